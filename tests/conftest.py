"""Session-wide test settings: an isolated, throw-away Airflow home for every test run.

Airflow reads its configuration at import time, so this runs before any test module imports it.
"""

from __future__ import annotations

import os
import tempfile

_HOME = tempfile.mkdtemp(prefix="airflow-dbx-async-tests-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_HOME}/airflow.db")
# Triggers here run in-process (tests, dag.test()), with no scheduler whose executor events they could
# overtake: no hold before their events (tests/triggers/test_event_hold.py sets it where it tests it).
os.environ.setdefault("AIRFLOW__DATABRICKS_ASYNC__EVENT_HOLD_SECONDS", "0")

# The Airflow-layer fixtures (a fake workspace, a connection, captured logs), after the settings above.
pytest_plugins = ["tests.fixtures"]
