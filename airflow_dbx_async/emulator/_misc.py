"""Small endpoints the official hook calls besides Jobs: the Spark versions.

``test_connection`` reads ``clusters/spark-versions``
(https://docs.databricks.com/api/workspace/clusters/sparkversions). Job permissions are in
:mod:`._permissions`, pipelines in :mod:`._pipelines`, SQL warehouses in :mod:`._warehouses`.
"""

from __future__ import annotations

from aiohttp import web

from airflow_dbx_async.emulator._params import json_response

__all__ = ("misc_routes",)

_VERSIONS = [
    {"key": "15.4.x-scala2.12", "name": "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"},
    {"key": "16.4.x-scala2.12", "name": "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"},
]


async def _spark_versions(_request: web.Request) -> web.Response:
    return json_response({"versions": _VERSIONS})


def misc_routes() -> list[web.RouteDef]:
    """Spark versions (2.0 and 2.1)."""
    return [
        web.get("/api/2.0/clusters/spark-versions", _spark_versions),
        web.get("/api/2.1/clusters/spark-versions", _spark_versions),
    ]
