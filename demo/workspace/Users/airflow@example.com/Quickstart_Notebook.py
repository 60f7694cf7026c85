# Databricks notebook source
# ruff: noqa: F821
# MAGIC %md
# MAGIC # Quickstart notebook
# MAGIC Prints a greeting, reads the optional `Variable` widget and exits with "ok".

# COMMAND ----------

dbutils.widgets.text("Variable", "")
variable = dbutils.widgets.get("Variable")
print("Hello from the quickstart notebook")

# COMMAND ----------

if variable:
    print(f"Variable = {variable}")
else:
    print("No Variable widget value was given")

# COMMAND ----------

dbutils.notebook.exit("ok")
