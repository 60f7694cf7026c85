"""Deferrable Apache Airflow operators for Databricks jobs.

The package root never imports Airflow: the Databricks client (:mod:`airflow_dbx_async.client`) and
the local Jobs API emulator (:mod:`airflow_dbx_async.emulator`) are usable on their own.
"""

from __future__ import annotations

__all__ = ("__version__",)

__version__ = "0.1.0"
