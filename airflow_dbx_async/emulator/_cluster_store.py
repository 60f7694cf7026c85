"""Which clusters exist: declared at start, listed in ``<workspace>/clusters.json``, or created by API.

``clusters.json`` is ``{"clusters": [{"cluster_id": "...", "cluster_name": "...", "state": "RUNNING"}]}``
(or just the list). A task's ``existing_cluster_id`` must name one of them: Databricks answers an
unknown id with 400 ``INVALID_PARAMETER_VALUE`` "Cluster <id> does not exist".
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow_dbx_async.emulator._params import invalid

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow_dbx_async.emulator.state import EmulatorState

__all__ = ("add_cluster", "check_clusters", "get_cluster", "load_clusters")

_SETTINGS = ("cluster_name", "spark_version", "node_type_id", "num_workers")


def load_clusters(state: EmulatorState) -> None:
    """Clusters of ``EmulatorConfig.clusters`` and ``<workspace>/clusters.json``."""
    declared: list[Any] = [{"cluster_id": c} for c in state.config.clusters]
    root = state.config.workspace_path
    path = None if root is None else root / "clusters.json"
    if path is not None and path.is_file():
        data = json.loads(path.read_text(encoding="utf-8"))
        declared += data.get("clusters", []) if isinstance(data, dict) else data
    for spec in declared:
        add_cluster(state, spec, status=str(spec.get("state", "RUNNING")))


def add_cluster(state: EmulatorState, spec: Mapping[str, Any], *, status: str = "RUNNING") -> str:
    """Store a cluster (``spec`` may carry its ``cluster_id``); returns its id."""
    cluster_id = str(
        spec.get("cluster_id") or f"0101-{state.now_ms() % 1_000_000:06d}-{len(state.clusters):08x}"
    )
    settings = {k: v for k, v in spec.items() if k in _SETTINGS}
    state.clusters[cluster_id] = {
        **settings,
        "state": status,
        "since_ms": state.now_ms(),
        "transition": None,
        "until_ms": 0,
    }
    return cluster_id


def get_cluster(state: EmulatorState, cluster_id: str) -> dict[str, Any]:
    """A known cluster, or the 400 Databricks gives for an unknown one."""
    try:
        return state.clusters[cluster_id]
    except KeyError:
        raise invalid(f"Cluster {cluster_id} does not exist") from None


def check_clusters(state: EmulatorState, tasks: list[dict[str, Any]]) -> None:
    """Every ``existing_cluster_id`` of ``tasks`` must name a known cluster."""
    for task in tasks:
        if task.get("existing_cluster_id") is not None:
            get_cluster(state, str(task["existing_cluster_id"]))
