# Databricks notebook source
# Fails on its first run and succeeds on the next one, each after "seconds" seconds: the "marker"
# widget names a file that the first run creates. Used to test repairing a failed run.
import pathlib
import time

marker = pathlib.Path(dbutils.widgets.getArgument("marker", ""))  # type: ignore[name-defined]  # noqa: F821
seconds = float(dbutils.widgets.getArgument("seconds", "0"))  # type: ignore[name-defined]  # noqa: F821

# COMMAND ----------

time.sleep(seconds)
if not marker.exists():
    marker.write_text("the first attempt failed")
    raise RuntimeError("first attempt fails on purpose")
print("second attempt succeeds")
dbutils.notebook.exit("repaired")  # type: ignore[name-defined]  # noqa: F821
