"""Child processes in their own process groups, stopped reliably.

End-to-end tests and the demo start long-lived servers (the emulator, Airflow's components). Each is
started in a new session so that it and every process it forks form one process group: stopping the
group (SIGTERM, then SIGKILL after a grace period) leaves nothing behind, even when a component has
forked workers of its own. An ``atexit`` guard stops whatever is still running when the interpreter
exits, so a crashed test run does not leak servers.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ("ManagedProcess", "group_alive", "stop_all", "stop_group")

_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()


def _group_members(pgid: int) -> list[int]:
    """Pids of the non-zombie processes in process group ``pgid`` (Linux ``/proc``)."""
    members: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name: state, ppid, pgrp, ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 2 and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is left in process group ``pgid``."""
    if Path("/proc/self/stat").exists():
        return bool(_group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def stop_group(pgid: int, *, grace: float = 10.0, popen: subprocess.Popen[bytes] | None = None) -> None:
    """Stop every process of group ``pgid``: SIGTERM, then SIGKILL whatever is left after ``grace`` s."""
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if popen is not None:
            popen.poll()
        if not group_alive(pgid):
            break
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)
    if popen is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
    deadline = time.monotonic() + 5
    while group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


class ManagedProcess:
    """One command running in its own session, its output appended to ``log_path``.

    :param name: a short label used in messages.
    :param argv: the command line.
    :param env: the complete environment of the child.
    :param log_path: file receiving the child's stdout and stderr.
    :param cwd: working directory of the child.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = tuple(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            self.popen: subprocess.Popen[bytes] = subprocess.Popen(
                self.argv,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # With start_new_session the child leads a new process group whose id is its pid.
        self.pgid = self.popen.pid
        with _LIVE_LOCK:
            _LIVE.add(self)

    def __repr__(self) -> str:
        return f"<ManagedProcess {self.name} pid={self.popen.pid} rc={self.popen.poll()}>"

    @property
    def pid(self) -> int:
        """Pid of the process leading the group."""
        return self.popen.pid

    def running(self) -> bool:
        """Whether the group leader has not exited yet."""
        return self.popen.poll() is None

    def alive(self) -> bool:
        """Whether any process of the group is still alive."""
        self.popen.poll()
        return group_alive(self.pgid)

    def kill(self) -> None:
        """SIGKILL the whole group at once (a crash, not a shutdown) and reap the leader."""
        _signal_group(self.pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5)
        # SIGKILL is delivered asynchronously: wait until the other members are gone too.
        deadline = time.monotonic() + 5
        while group_alive(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.05)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def stop(self, grace: float = 10.0) -> None:
        """Stop the whole group (SIGTERM, then SIGKILL after ``grace`` s); idempotent."""
        stop_group(self.pgid, grace=grace, popen=self.popen)
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the child's output, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def stop_all(procs: list[ManagedProcess], grace: float = 10.0) -> None:
    """Stop several process groups at once: SIGTERM to all, one shared grace period, then SIGKILL."""
    for proc in procs:
        _signal_group(proc.pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(proc.alive() for proc in procs):
        time.sleep(0.1)
    for proc in procs:
        proc.stop(grace=0.0)


@atexit.register
def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    stop_all(leftovers, grace=3.0)
