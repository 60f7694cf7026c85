"""Airflow 3.1 and 3.2 lack the trigger ``on_kill`` hook of 3.3: detected once, and the user is told."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pytest
from airflow.jobs import triggerer_job_runner

from airflow_dbx_async import _compat
from airflow_dbx_async.operators import DatabricksSubmitRunOperator, _operator_base
from tests.compat import TaskDeferred
from tests.helpers import CONN_ID, context, messages

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from tests.fixtures import Emulated


def test_detection_agrees_with_the_installed_triggerer() -> None:
    calls_on_kill = "trigger.on_kill()" in inspect.getsource(triggerer_job_runner)
    assert _compat.TRIGGER_ON_KILL is calls_on_kill


def _defer(**kwargs: Any) -> None:
    op = DatabricksSubmitRunOperator(
        task_id="task",
        databricks_conn_id=CONN_ID,
        existing_cluster_id="c",
        notebook_task={"notebook_path": "/Users/a@b.c/nb"},
        **kwargs,
    )
    with pytest.raises(TaskDeferred):
        op.execute(context())


def _kill_warnings(logs: list[MutableMapping[str, Any]]) -> list[str]:
    return [m for m in messages(logs, "warning") if "will not cancel Databricks run" in m]


@pytest.mark.parametrize("supported", [True, False])
def test_deferring_warns_only_where_a_kill_cannot_cancel_the_run(
    supported: bool,
    emulator: Emulated,
    logs: list[MutableMapping[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_operator_base, "TRIGGER_ON_KILL", supported)
    _defer()
    (run_id,) = [run["run_id"] for run in emulator.admin("runs")["runs"]]
    expected = [] if supported else [f"{run_id}"]
    assert [m.rsplit(" ", 1)[-1] for m in _kill_warnings(logs)] == expected


def test_no_warning_when_the_run_is_left_running_on_kill_anyway(
    emulator: Emulated,
    logs: list[MutableMapping[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_operator_base, "TRIGGER_ON_KILL", False)
    _defer(cancel_on_kill=False)
    assert _kill_warnings(logs) == []


@pytest.mark.asyncio
async def test_async_secret_registration_masks_in_this_process() -> None:
    from airflow.sdk._shared.secrets_masker import redact

    secret = "compat-secret-5d1e9b7a"
    await _compat.amask_secret(secret)
    assert secret not in str(redact(f"token={secret}"))
