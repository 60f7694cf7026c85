"""Each identity-based auth method through the operator (beside the official hook: ``..._official``).

One connection per method, as a user writes it. ``DatabricksSubmitRunOperator`` runs a task try on it
the way Airflow does (``execute`` in a worker thread, the trigger, ``execute_complete``), against an
emulator serving TLS whose ``federation.json`` trusts the identity stand-ins. The official
``DatabricksHook`` then reads the same run on the same connection: both must reach the workspace as
the same identity, or fail alike.

Where the tokens come from: the Azure metadata-service stand-in (``AZURE_POD_IDENTITY_AUTHORITY_HOST``
for us and for the official provider's ``azure-identity`` calls, its ``/metadata/instance`` URL patched
into the official module), a Kubernetes TokenRequest API stand-in (the API server URL and cluster CA
are module constants on both sides), a projected token file, a ``federated_token_provider`` callable,
and a stand-in for the Amazon provider's ``StsHook``. ``azure-identity`` and the Amazon
provider are not dependencies of this project: ``identity_stand_ins`` provides the parts both
implementations import.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

from airflow_dbx_async.client import _tokens
from airflow_dbx_async.operators import DatabricksSubmitRunOperator
from airflow_dbx_async.triggers import DatabricksRunTrigger
from tests.fake_time import FakeTime
from tests.helpers import first_event, hold_runs_until_looked_at
from tests.hooks.identity_stand_ins import (
    DATABRICKS,
    EXCHANGE,
    MANAGEMENT,
    METHODS,
    Identities,
)
from tests.reliability.conftest import TryResult, run_try

pytestmark = [
    pytest.mark.usefixtures("identity_leftovers_collected"),
    pytest.mark.asyncio,
    # The official hook's deprecated ProvidersManager lookups.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # The server-side transports of the official hook's refused TLS connections (see the fixture below).
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]


TASK = {"task_key": "t", "notebook_task": {"notebook_path": "/x"}, "sim_duration_seconds": 0.05}


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def identity(jwt: str) -> dict[str, Any]:
    """Who a JWT names, for whom: its claims less the moments and the unique id."""
    return {k: v for k, v in claims(jwt).items() if k not in ("iat", "nbf", "exp", "uti")}


def submit(conn_id: str, *, deferrable: bool = True, **task: Any) -> DatabricksSubmitRunOperator:
    return DatabricksSubmitRunOperator(
        task_id=f"submit_{conn_id}",
        databricks_conn_id=conn_id,
        tasks=[{**TASK, **task}],
        polling_period_seconds=0.05,
        deferrable=deferrable,
        databricks_retry_limit=2,
        databricks_retry_delay=0.01,
    )


def pushed_run_id(result: TryResult) -> int:
    [run_id] = [value for key, value in result.ti.pushed if key == "run_id"]
    assert isinstance(run_id, int)
    return run_id


def token_requests(ids: Identities) -> dict[str, Any]:
    """What each token source was asked, counted by the stand-ins and the workspace."""
    return {
        "imds": dict(ids.imds.requests),
        "k8s": ids.k8s.requests,
        "sts": len(ids.sts.calls),
        "exchange": ids.workspace.state.stats.requests.get(EXCHANGE, 0),
    }


# What one task try asks of each token source: one token per resource, shared by the worker and the
# trigger of the same process, whatever the number of requests.
ASKED_ONCE: dict[str, dict[str, Any]] = {
    "managed_identity": {"imds": {DATABRICKS: 1, MANAGEMENT: 1}, "k8s": 0, "sts": 0, "exchange": 0},
    "default_azure_credential": {"imds": {DATABRICKS: 1}, "k8s": 0, "sts": 0, "exchange": 0},
    "k8s_projected_volume": {"imds": {}, "k8s": 0, "sts": 0, "exchange": 1},
    "k8s_token_request": {"imds": {}, "k8s": 1, "sts": 0, "exchange": 1},
    "token_provider": {"imds": {}, "k8s": 0, "sts": 0, "exchange": 1},
    "aws": {"imds": {}, "k8s": 0, "sts": 1, "exchange": 1},
}


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in_worker"])
@pytest.mark.parametrize("method", METHODS)
async def test_the_operator_runs_on_each_method(
    identities: Identities, monkeypatch: pytest.MonkeyPatch, method: str, deferrable: bool
) -> None:
    conn_id = identities.connect(monkeypatch, method)
    hold_runs_until_looked_at(identities.workspace.state)
    result = await run_try(submit(conn_id, deferrable=deferrable))
    assert result.errors == []
    if deferrable:
        assert [event["status"] for event in result.events] == ["success"]
        assert json.loads(json.dumps(result.trigger_kwargs))["databricks_conn_id"] == conn_id
    else:
        assert result.trigger_kwargs is None  # watched from the worker
    assert pushed_run_id(result) in identities.workspace.state.runs  # and it succeeded: no error
    assert token_requests(identities) == ASKED_ONCE[method]


def _our_tokens(kind: str) -> dict[str, str]:
    """Our cached tokens of credentials of ``kind``, by resource (Azure) or token endpoint."""
    return {
        key[-1] if kind.startswith("azure") else key[1]: cached.access_token
        for key, cached in _tokens._TOKENS.items()
        if key[0] == kind
    }


async def test_a_thousand_triggers_on_one_managed_identity_ask_once_per_refresh(
    identities: Identities, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeTime()
    clock.now = time.time()
    monkeypatch.setattr(_tokens, "_clock", clock.clock)
    conn_id = identities.connect(
        monkeypatch, "managed_identity", azure_resource_id="", max_requests_per_second=0
    )
    state = identities.workspace.state
    run_ids = [
        state.submit({"run_name": f"r{i}", "tasks": [{**TASK, "sim_duration_seconds": 0}]})
        for i in range(1000)
    ]

    async def watch_all() -> list[str]:
        triggers = [
            DatabricksRunTrigger(run_id=run_id, databricks_conn_id=conn_id, polling_period_seconds=0.05)
            for run_id in run_ids
        ]
        return [event.status for event in await asyncio.gather(*(first_event(t) for t in triggers))]

    assert await watch_all() == ["success"] * 1000
    assert identities.imds.requests == {DATABRICKS: 1}
    [first] = identities.imds.issued
    # Inside the refresh margin, still before the token expires: the next users refresh it, once.
    clock.now += identities.imds.lifetime_seconds - _tokens.TOKEN_REFRESH_MARGIN_SECONDS
    assert await watch_all() == ["success"] * 1000
    assert identities.imds.requests == {DATABRICKS: 2}
    assert _our_tokens("azure-mi") == {DATABRICKS: identities.imds.issued[1]} != {DATABRICKS: first}


# --- proxies --------------------------------------------------------------------------------------------
