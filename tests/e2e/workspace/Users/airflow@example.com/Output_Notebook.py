# Databricks notebook source
# Prints three lines in two cells; then succeeds with an exit value, or raises in the third cell when
# the "fail" widget is "yes". What it printed is only in the run export on Databricks.
fail = dbutils.widgets.getArgument("fail", "no") == "yes"  # type: ignore[name-defined]  # noqa: F821
print("first printed line")

# COMMAND ----------

print("second printed line")
print("third printed line")

# COMMAND ----------

if fail:
    raise ValueError("the third cell fails on purpose")
dbutils.notebook.exit("e2e-exit-value")  # type: ignore[name-defined]  # noqa: F821
