# Databricks notebook source
# ruff: noqa: F821
# MAGIC %md
# MAGIC # Failing notebook
# MAGIC Prints a few lines, then raises a ValueError so failure reporting can be demonstrated.

# COMMAND ----------

print("Starting the failing notebook")
print("Checking the input data")

# COMMAND ----------

rows = 0
if rows == 0:
    raise ValueError("Input data is empty: expected at least one row")
