"""The notebook and task operators; they live in :mod:`airflow_dbx_async.operators` (this path works)."""

from __future__ import annotations

from airflow_dbx_async.operators import (
    DatabricksNotebookOperator,
    DatabricksTaskBaseOperator,
    DatabricksTaskOperator,
)

__all__ = ("DatabricksNotebookOperator", "DatabricksTaskBaseOperator", "DatabricksTaskOperator")
