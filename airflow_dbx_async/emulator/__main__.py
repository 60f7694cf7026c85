"""Command line: ``python -m airflow_dbx_async.emulator [options]``.

Prints one ``EMULATOR_READY {json}`` line and one ``AIRFLOW_CONN_DATABRICKS='...'`` line when listening,
then serves until SIGTERM or SIGINT (task subprocesses are killed on the way out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from typing import TYPE_CHECKING

from airflow_dbx_async.emulator._server import EmulatorServer
from airflow_dbx_async.emulator.config import DEFAULT_TOKEN, EmulatorConfig, FaultConfig

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("build_config", "main", "parse_args")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="python -m airflow_dbx_async.emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--workspace", default=None, help="folder with notebooks, scripts and jobs.json")
    parser.add_argument("--simulate", action="store_true", help="simulated runs (no subprocesses)")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a throw-away CA (needs trustme)")
    parser.add_argument("--token", action="append", default=None, help="accepted bearer token (repeatable)")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--fault-kinds", default="429,500,503", help="comma list of 429,500,503,drop,stall")
    parser.add_argument("--fault-seed", type=int, default=None)
    parser.add_argument("--fault-phase", choices=("before", "after"), default="before")
    parser.add_argument("--stall-seconds", type=float, default=5.0)
    parser.add_argument("--max-concurrency", type=int, default=4)
    parser.add_argument("--sim-duration", type=float, default=1.0, help="seconds per simulated task")
    parser.add_argument("--not-found-status", type=int, choices=(400, 404), default=400)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> EmulatorConfig:
    """Turn parsed arguments into an :class:`EmulatorConfig`."""
    faults = None
    if args.fault_rate > 0:
        faults = FaultConfig(
            rate=args.fault_rate,
            kinds=tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip()),
            seed=args.fault_seed,
            phase=args.fault_phase,
            stall_seconds=args.stall_seconds,
        )
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        workspace=args.workspace,
        simulate=args.simulate,
        tls=args.tls,
        tokens=tuple(args.token or (DEFAULT_TOKEN,)),
        faults=faults,
        max_concurrency=args.max_concurrency,
        sim_duration_seconds=args.sim_duration,
        not_found_status=args.not_found_status,
    )


def ready_lines(server: EmulatorServer) -> list[str]:
    """The two lines announcing a listening server."""
    ready = {
        "url": server.url,
        "token": server.token,
        "ca_file": server.ca_file,
        "workspace_id": server.config.workspace_id,
    }
    # `port` and `schema` let the official provider's hook (which keeps only the host name) reach us too.
    scheme, _, rest = server.url.partition("://")
    conn: dict[str, object] = {
        "conn_type": "databricks",
        "host": server.url,
        "port": int(rest.rsplit(":", 1)[1]),
        "schema": scheme,
        "password": server.token,
    }
    if server.ca_file is not None:
        conn["extra"] = {"ca_file": server.ca_file}
    return [f"EMULATOR_READY {json.dumps(ready)}", f"AIRFLOW_CONN_DATABRICKS='{json.dumps(conn)}'"]


async def serve(config: EmulatorConfig) -> None:
    """Serve until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with EmulatorServer(config) as server:
        sys.stdout.write("\n".join(ready_lines(server)) + "\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    asyncio.run(serve(build_config(parse_args(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
