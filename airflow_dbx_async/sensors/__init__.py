"""Deferrable sensors: the SQL statement sensor (an official drop-in).

It submits a statement, or watches one given by id, and waits for it in the triggerer with
:class:`~airflow_dbx_async.triggers.DatabricksSQLStatementTrigger`, exactly as the SQL statement
operator of :mod:`airflow_dbx_async.operators` does.
"""

from __future__ import annotations

from airflow_dbx_async.sensors._sql_statements import DatabricksSQLStatementsSensor

__all__ = ("DatabricksSQLStatementsSensor",)
