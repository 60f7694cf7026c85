"""The worker registers the connection's secrets before it logs, and redacts what it logs and raises.

A resumed worker never reads the connection, and ``dag.test()`` masks no log line, so the operator
must do both itself: these tests start from an empty masker, as such a worker does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from airflow.sdk import Connection
from airflow.sdk._shared.secrets_masker import reset_secrets_masker

from airflow_dbx_async.client import RunState
from airflow_dbx_async.hooks._secrets import connection_secrets, redact, register_connection_secrets
from airflow_dbx_async.operators import DatabricksRunFailedError, DatabricksSubmitRunDeferrableOperator
from airflow_dbx_async.outcome._events import RunEvent
from airflow_dbx_async.outcome._failure_details import FailedTask
from tests.fake_databricks import state
from tests.fixtures import CLUSTER, running_emulator
from tests.helpers import CONN_ID, context, messages

if TYPE_CHECKING:
    from collections.abc import Iterator, MutableMapping

    from tests.fixtures import Emulated

PAT = "dapi-notebook-secret-0123456789abcdef"
EXTRA_TOKEN = "dapi-extra-token-fedcba9876543210"
CLIENT_SECRET = "sp-client-secret-42424242"


@pytest.fixture(autouse=True)
def empty_masker() -> Iterator[None]:
    reset_secrets_masker()
    yield
    reset_secrets_masker()


def _connect(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    body = {"conn_type": "databricks", "host": "https://dbx.example.com", **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(body))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"password": PAT}, (PAT,)),
        ({"extra": {"token": EXTRA_TOKEN}}, (EXTRA_TOKEN,)),
        ({"password": PAT, "extra": {"token": f" {EXTRA_TOKEN}\n"}}, (PAT, EXTRA_TOKEN)),
        (
            {"login": "sp-id", "password": CLIENT_SECRET, "extra": {"service_principal_oauth": True}},
            (CLIENT_SECRET,),
        ),
        (
            {"login": "sp", "password": CLIENT_SECRET, "extra": {"azure_tenant_id": "tenant-1"}},
            (CLIENT_SECRET,),
        ),
        ({"extra": {"azure_client_secret": CLIENT_SECRET, "host": "h", "ca_file": "/x"}}, (CLIENT_SECRET,)),
        ({"extra": {"client_secret": CLIENT_SECRET, "nested": {"api_key": "ak-123456"}}}, (CLIENT_SECRET,)),
        ({"login": "user", "extra": "not json"}, ()),
    ],
)
def test_connection_secrets(fields: dict[str, Any], expected: tuple[str, ...]) -> None:
    extra = fields.pop("extra", None)
    conn = Connection(
        conn_id="c",
        conn_type="databricks",
        extra=extra if isinstance(extra, str) else json.dumps(extra or {}),
        **fields,
    )
    assert connection_secrets(conn) == expected


def test_registered_secrets_are_redacted_in_text_lists_and_dicts(monkeypatch: pytest.MonkeyPatch) -> None:
    _connect(monkeypatch, password=PAT, extra={"token": EXTRA_TOKEN})
    assert redact(f"printed {PAT}") == f"printed {PAT}"  # nothing registered yet: the worker's state
    assert set(register_connection_secrets(CONN_ID)) == {PAT, EXTRA_TOKEN}
    assert redact(f"printed {PAT} and {EXTRA_TOKEN}") == "printed *** and ***"
    assert redact({"k": [f"x{EXTRA_TOKEN}y"]}) == {"k": ["x***y"]}


def test_a_missing_connection_registers_nothing() -> None:
    assert register_connection_secrets("no_such_connection_for_masking") == ()


def _failed_with(secret: str, emulator: Emulated) -> dict[str, Any]:
    """The event of a run that failed at once; its task printed ``secret``, which its output shows."""
    task = {
        "task_key": "nb",
        "existing_cluster_id": CLUSTER,
        "notebook_task": {"notebook_path": "/x"},
        "sim_duration_seconds": 0,
        "sim_error": f"ValueError: token is {secret}",
    }
    run_id = emulator.state.submit({"run_name": "leaky", "tasks": [task]})
    (task_run_id,) = [t.run_id for t in emulator.state.runs[run_id].tasks]
    task_state = RunState.from_api(state("TERMINATED", "FAILED", f"failed with {secret}"))
    return RunEvent(
        status="failed",
        run_id=run_id,
        state=RunState.from_api(state("TERMINATED", "FAILED", f"Workload failed {secret}")),
        reason=f"TERMINATED/FAILED: {secret}",
        failed_tasks=(FailedTask("nb", task_run_id, "", task_state),),
        failed_total=1,
    ).to_payload()


@pytest.mark.parametrize(
    ("fields", "secret"),
    [({"password": PAT}, PAT), ({"extra": {"token": EXTRA_TOKEN}}, EXTRA_TOKEN)],
    ids=["password", "extra-token"],
)
def test_resumed_worker_masks_the_report_and_the_exception(
    monkeypatch: pytest.MonkeyPatch, logs: list[MutableMapping[str, Any]], fields: dict[str, Any], secret: str
) -> None:
    op = DatabricksSubmitRunDeferrableOperator(
        task_id="t",
        databricks_conn_id=CONN_ID,
        notebook_task={"notebook_path": "/x"},
        existing_cluster_id=CLUSTER,
    )
    with running_emulator(token=secret) as emulator:
        _connect(monkeypatch, host=emulator.url, **fields)
        event = _failed_with(secret, emulator)
        with pytest.raises(DatabricksRunFailedError) as failed:
            op.execute_complete(context(), event)
        (output,) = emulator.calls("get-output")  # the output was fetched by the worker, then masked
        assert emulator.requests_to("GET /api/2.2/jobs/runs/get-output") == 1
    assert output["run_id"] == str(event["failed_tasks"][0]["run_id"])
    logged = messages(logs)
    assert any("***" in line for line in logged)
    assert all(secret not in line for line in logged)
    assert secret not in str(failed.value)
    assert "***" in str(failed.value)
