"""Provider metadata for Airflow's ``apache_airflow_provider`` entry point.

Airflow reads this to list the package in ``airflow providers list`` and to register the extra link
to the Databricks run page. Kept free of Airflow imports so that listing providers stays cheap.
"""

from __future__ import annotations

from typing import Any

from airflow_dbx_async import __version__

__all__ = ("get_provider_info",)


def get_provider_info() -> dict[str, Any]:
    """Return the provider description Airflow expects from the entry point."""
    return {
        "package-name": "airflow-dbx-async",
        "name": "Databricks (deferrable, async)",
        "description": "Deferrable operators for Databricks jobs, polled by the triggerer over aiohttp.",
        "versions": [__version__],
        "extra-links": [
            "airflow_dbx_async.links.DatabricksJobRunLink",
            "airflow_dbx_async.links.WorkflowJobRunLink",
            "airflow_dbx_async.links.WorkflowJobRepairAllFailedLink",
            "airflow_dbx_async.links.WorkflowJobRepairSingleTaskLink",
        ],
        "connection-types": [],
    }
