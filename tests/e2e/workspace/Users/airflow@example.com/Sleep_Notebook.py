# Databricks notebook source
# Sleeps for the number of seconds in the "seconds" widget, so a test can act while the run is going.
import time

seconds = float(dbutils.widgets.getArgument("seconds", "30"))  # type: ignore[name-defined]  # noqa: F821
print(f"sleeping {seconds} s")

# COMMAND ----------

time.sleep(seconds)
print("woke up")
dbutils.notebook.exit("slept")  # type: ignore[name-defined]  # noqa: F821
