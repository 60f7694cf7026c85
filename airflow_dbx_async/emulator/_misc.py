"""Small endpoints the official hook calls besides Jobs: spark versions, job permissions, listings.

``test_connection`` reads ``clusters/spark-versions``
(https://docs.databricks.com/api/workspace/clusters/sparkversions); ``DatabricksCreateJobsOperator``
sets ``access_control_list`` with ``PATCH permissions/jobs/{id}``
(https://docs.databricks.com/api/workspace/jobs/updatepermissions); the pipeline lookup by name lists
``pipelines``, which the emulator does not have (SQL warehouses are in :mod:`._warehouses`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from airflow_dbx_async.emulator._keys import STATE
from airflow_dbx_async.emulator._params import invalid, json_response, read_params
from airflow_dbx_async.emulator._schema import OBJ, list_of, object_of

if TYPE_CHECKING:
    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("misc_routes",)

_VERSIONS = [
    {"key": "15.4.x-scala2.12", "name": "15.4 LTS (includes Apache Spark 3.5.0, Scala 2.12)"},
    {"key": "16.4.x-scala2.12", "name": "16.4 LTS (includes Apache Spark 3.5.2, Scala 2.12)"},
]
_ACL = object_of({"access_control_list": list_of(OBJ)})


async def _spark_versions(_request: web.Request) -> web.Response:
    return json_response({"versions": _VERSIONS})


async def _job_permissions(request: web.Request) -> web.Response:
    body = await read_params(request)
    _ACL(body, "")
    state: EmulatorState = request.app[STATE]
    raw = request.match_info["job_id"]
    if not raw.isdigit():
        raise invalid(f"Invalid job id {raw[:40]!r}.")
    state.job(int(raw))
    acl: list[dict[str, Any]] = [dict(entry) for entry in body.get("access_control_list") or ()]
    for entry in acl:
        level = entry.pop("permission_level", None)
        if level is not None:
            entry["all_permissions"] = [{"permission_level": level, "inherited": False}]
    return json_response({"object_id": f"/jobs/{raw}", "object_type": "job", "access_control_list": acl})


async def _empty(_request: web.Request) -> web.Response:
    return json_response({})


def misc_routes() -> list[web.RouteDef]:
    """Spark versions (2.0 and 2.1), job permissions, and the empty pipeline list."""
    return [
        web.get("/api/2.0/clusters/spark-versions", _spark_versions),
        web.get("/api/2.1/clusters/spark-versions", _spark_versions),
        web.patch("/api/2.0/permissions/jobs/{job_id}", _job_permissions),
        web.put("/api/2.0/permissions/jobs/{job_id}", _job_permissions),
        web.get("/api/2.0/pipelines", _empty),
    ]
