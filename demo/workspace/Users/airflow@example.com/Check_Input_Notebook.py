# Databricks notebook source
# ruff: noqa: F821
# MAGIC %md
# MAGIC # Check input notebook
# MAGIC Fails until the file named by the `input_path` widget exists; once it does, repairing the run
# MAGIC re-runs this task and it succeeds.

# COMMAND ----------

import os
import time

dbutils.widgets.text("input_path", "")
input_path = dbutils.widgets.get("input_path")
print(f"Checking the input file {input_path!r}")
time.sleep(20)  # stands for real work, so the Airflow task waits for it in the triggerer

# COMMAND ----------

if not input_path or not os.path.exists(input_path):
    raise FileNotFoundError(f"Input file is missing: {input_path!r}")
print("The input file is there")
dbutils.notebook.exit("input ok")
