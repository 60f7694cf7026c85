"""Airflow names whose import path moved between the supported Airflow 3 minors (tests only)."""

from __future__ import annotations

from airflow_dbx_async._compat import TaskDeferred

try:  # Airflow 3.2+
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 3.1
    from airflow.models.dagbag import DagBag  # type: ignore[no-redef,unused-ignore]

__all__ = ("DagBag", "TaskDeferred")
