"""A tiny ETL script for spark_python_task demos: parameters arrive as command-line arguments."""

import sys

args = sys.argv[1:]
print(f"etl.py started with arguments: {args}")
if "--fail" in args:
    raise RuntimeError("ETL failed because --fail was given")
print("etl.py finished")
