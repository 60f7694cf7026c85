"""The demo: a local Databricks emulator, a real Airflow, and the example DAGs running against both.

Starts the emulator (real mode, notebooks from demo/workspace), then Airflow's API server,
scheduler, DAG processor and triggerer on a throw-away home; triggers ``databricks_dag`` and
``databricks_failing_dag`` and prints every task state change as it happens. Then it prints the
failed task's log (the notebook's error, traceback and output) and the URLs of the Airflow UI and
the emulator, and keeps everything running until Ctrl-C. ``--exit`` (or ``DEMO_EXIT=1``) stops
everything right after printing. Ctrl-C stops every process the demo started.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from airflow_dbx_async.testing import AirflowStack, EmulatorProcess

if TYPE_CHECKING:
    from types import FrameType

__all__ = ("main",)

ROOT = Path(__file__).resolve().parents[1]

DAGS = {"databricks_dag": ("submit_run", "run_now"), "databricks_failing_dag": ("failing_notebook",)}
EXPECTED = {"databricks_dag": "success", "databricks_failing_dag": "failed"}
DONE = {"success", "failed", "upstream_failed", "skipped"}
REPORT_LOGGER = "airflow_dbx_async"


def _say(text: str = "") -> None:
    print(text, flush=True)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _watch(stack: AirflowStack, runs: dict[str, str], timeout: float) -> dict[tuple[str, str], str | None]:
    """Print each task's state transitions until every task is done; returns the final states."""
    started = time.monotonic()
    last: dict[tuple[str, str], str | None] = {(d, t): None for d, tasks in DAGS.items() for t in tasks}
    while time.monotonic() - started < timeout:
        for (dag_id, task_id), previous in last.items():
            state = stack.api.task_state(dag_id, runs[dag_id], task_id)
            if state != previous:
                elapsed = time.monotonic() - started
                _say(f"  [{elapsed:6.1f}s] {dag_id}.{task_id}: {previous or 'none'} -> {state}")
                last[(dag_id, task_id)] = state
        if all(state in DONE for state in last.values()):
            return last
        time.sleep(0.25)
    _say(f"  still not finished after {timeout:.0f} s")
    return last


def _failure_report(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """The error lines our operator logged in the failed task's log (the Databricks failure report)."""
    report = []
    for event in stack.api.task_log_events(dag_id, run_id, task_id, 1):
        if not isinstance(event, dict) or event.get("level") != "error":
            continue
        if f"{REPORT_LOGGER}.operators" in str(event.get("logger", "")):
            report.append(str(event.get("event", "")))
    return report


def _notebook_output(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> list[str]:
    """The lines our operator logged with what a successful notebook task printed (from the run export)."""
    lines = []
    for event in stack.api.task_log_events(dag_id, run_id, task_id, 1):
        if not isinstance(event, dict) or f"{REPORT_LOGGER}.operators" not in str(event.get("logger", "")):
            continue
        text = str(event.get("event", ""))
        if text.startswith(("Notebook task", "    | ")):
            lines.append(text)
    return lines


def _run(args: argparse.Namespace) -> int:
    _say("==> starting the Databricks emulator (notebooks from demo/workspace)")
    with EmulatorProcess(workspace=ROOT / "demo" / "workspace") as emulator:
        _say(f"    emulator: {emulator.url}/")
        _say("==> starting Airflow: api-server, scheduler, dag-processor, triggerer (about 20-40 s)")
        dag_files = sorted((ROOT / "example_dags").glob("*.py"))
        with AirflowStack(dag_files, connections={"databricks": emulator.connection_json()}) as stack:
            _say(f"    Airflow UI: {stack.base_url}/  (logs of every component in {stack.home})")
            stack.wait_dags(DAGS)
            runs = {dag_id: stack.api.trigger_dag(dag_id, run_id=f"demo__{dag_id}") for dag_id in DAGS}
            _say(f"==> triggered {', '.join(DAGS)}; task states as they change:")
            final = _watch(stack, runs, args.timeout)
            ok = all(final[(d, t)] == EXPECTED[d] for d, tasks in DAGS.items() for t in tasks)
            _print_results(stack, emulator, runs)
            _say(f"==> Airflow UI:   {stack.base_url}/dags/databricks_dag")
            _say(f"    Emulator UI:  {emulator.url}/")
            _say("    outcome as expected" if ok else "    UNEXPECTED outcome (see the states above)")
            if not args.exit:
                _say("==> everything keeps running; press Ctrl-C to stop every process the demo started")
                while True:
                    time.sleep(3600)
            _say("==> stopping every process the demo started")
    return 0 if ok else 1


def _print_results(stack: AirflowStack, emulator: EmulatorProcess, runs: dict[str, str]) -> None:
    _say("==> Databricks runs seen by the emulator:")
    for run in emulator.runs():
        _say(f"    run {run['run_id']} {run['run_name']!r}: {run['life_cycle_state']}/{run['result_state']}")
    dag_id, task_id = "databricks_dag", "submit_run"
    _say(f"==> the successful task's log ({dag_id}.{task_id}): what the notebook printed")
    for line in _notebook_output(stack, dag_id, runs[dag_id], task_id):
        _say(f"    {line}")
    exit_value = stack.api.xcom(dag_id, runs[dag_id], task_id, "notebook_result")
    _say(f"    XCom notebook_result (its dbutils.notebook.exit value): {exit_value!r}")
    dag_id, task_id = "databricks_failing_dag", "failing_notebook"
    _say(f"==> the failed task's log ({dag_id}.{task_id}): the notebook's output, failing cell and error")
    for line in _failure_report(stack, dag_id, runs[dag_id], task_id):
        _say(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the demo, and stop everything on Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--exit",
        action="store_true",
        default=os.environ.get("DEMO_EXIT") == "1",
        help="stop everything after printing the results (default: wait for Ctrl-C; env DEMO_EXIT=1)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the DAG runs")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _run(args)
    except KeyboardInterrupt:
        _say("\n==> stopped; every process the demo started is gone")
        return 0


if __name__ == "__main__":
    sys.exit(main())
