# Databricks notebook source
# Prints the workspace token, then raises with it: the task log must show *** instead.
from airflow_dbx_async.emulator.config import DEFAULT_TOKEN

print(f"the token is {DEFAULT_TOKEN}")

# COMMAND ----------

raise RuntimeError(f"bad token {DEFAULT_TOKEN}")
