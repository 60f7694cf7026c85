"""Configuration value objects of the Jobs API emulator.

Everything the emulator can be told at start lives in the frozen :class:`EmulatorConfig`; fault
injection has its own :class:`FaultConfig` because it can also be replaced at runtime.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "DEFAULT_OAUTH_CLIENTS",
    "DEFAULT_TOKEN",
    "FAULT_KINDS",
    "EmulatorConfig",
    "FaultConfig",
)

DEFAULT_TOKEN = "dapi-emulator-0000000000000000"
DEFAULT_OAUTH_CLIENTS: Mapping[str, str] = {"emulator-sp": "emulator-secret"}
FAULT_KINDS = ("429", "500", "503", "drop", "stall")
_SIXTY_DAYS = 60 * 24 * 3600.0


@dataclass(frozen=True, kw_only=True)
class FaultConfig:
    """Random faults injected in front of (phase ``before``) or behind (phase ``after``) the API handlers.

    :param rate: probability in [0, 1] that an eligible request is faulted.
    :param kinds: fault kinds to choose from: ``429``, ``500``, ``503``, ``drop``, ``stall``.
    :param seed: seed of the random generator, so that a sequence of faults can be replayed.
    :param stall_seconds: how long a ``stall`` fault sleeps before answering.
    :param paths: only requests whose path contains one of these substrings are eligible (all when empty).
    :param phase: ``before`` answers without processing; ``after`` processes the request, then loses
        the answer.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = ("429", "500", "503")
    seed: int | None = None
    stall_seconds: float = 5.0
    paths: tuple[str, ...] = ()
    phase: str = "before"

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("fault rate must be between 0 and 1")
        unknown = [k for k in self.kinds if k not in FAULT_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds must be a non-empty subset of {FAULT_KINDS}, got {self.kinds}")
        if self.phase not in ("before", "after"):
            raise ValueError("fault phase must be 'before' or 'after'")
        if self.stall_seconds < 0:
            raise ValueError("stall_seconds must not be negative")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        """Build from the JSON body of ``POST /_emulator/faults`` (unknown keys are rejected)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        kwargs: dict[str, Any] = dict(data)
        if "kinds" in kwargs:
            kinds = kwargs["kinds"]
            kwargs["kinds"] = tuple(kinds.split(",") if isinstance(kinds, str) else (str(k) for k in kinds))
        if "paths" in kwargs:
            kwargs["paths"] = tuple(str(p) for p in kwargs["paths"])
        if "rate" in kwargs:
            kwargs["rate"] = float(kwargs["rate"])
        if "stall_seconds" in kwargs:
            kwargs["stall_seconds"] = float(kwargs["stall_seconds"])
        if kwargs.get("seed") is not None:
            kwargs["seed"] = int(kwargs["seed"])
        return cls(**kwargs)

    def to_json(self) -> dict[str, Any]:
        """JSON form, as served by ``GET /_emulator/faults``."""
        data = dataclasses.asdict(self)
        data["kinds"] = list(self.kinds)
        data["paths"] = list(self.paths)
        return data


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    """Settings of one emulator instance.

    :param host: interface to listen on.
    :param port: TCP port; 0 picks a free one.
    :param workspace: folder holding notebooks, scripts and ``jobs.json`` (real execution mode).
    :param simulate: simulated mode: no subprocesses, run states are computed from the clock.
    :param tls: serve HTTPS with a throw-away CA (needs ``trustme``).
    :param tokens: accepted bearer tokens (personal access tokens).
    :param basic_users: accepted HTTP Basic ``username -> password`` pairs (a configured token as the
        password is accepted with any username, too).
    :param oauth_clients: OAuth M2M ``client_id -> client_secret`` pairs for ``/oidc/v1/token``.
    :param oauth_token_ttl_seconds: ``expires_in`` of issued OAuth tokens.
    :param faults: fault injection active from the start.
    :param max_concurrency: task subprocesses running at once; more wait QUEUED (real mode).
    :param sim_duration_seconds: default duration of a simulated task.
    :param sim_result: default result of a simulated task.
    :param not_found_status: HTTP status for an unknown run or job: 400 like Databricks, or 404.
    :param workspace_id: the ``?o=`` workspace id in ``run_page_url``.
    :param idempotency_retention_seconds: how long an idempotency token stays bound to its run.
    :param retry_after_seconds: ``Retry-After`` of injected 429/503 answers.
    :param cluster_transition_seconds: how long simulated cluster starts and restarts take.
    :param cancel_grace_seconds: how long a cancelled simulated task stays TERMINATING before CANCELED.
    :param clusters: ids of existing clusters (as well as those in ``<workspace>/clusters.json`` and
        those created through ``clusters/create``); an unknown ``existing_cluster_id`` is a 400.
    :param warehouses: ids of extra SQL warehouses, RUNNING at start (besides the default warehouse,
        those in ``<workspace>/warehouses.json`` and those created through the Warehouses API).
    :param warehouse_transition_seconds: how long a SQL warehouse start, stop or delete takes.
    :param sql_chunk_rows: rows per result chunk of the Statement Execution API.
    """

    host: str = "127.0.0.1"
    port: int = 0
    workspace: Path | str | None = None
    simulate: bool = False
    tls: bool = False
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    basic_users: Mapping[str, str] = field(default_factory=dict)
    oauth_clients: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_OAUTH_CLIENTS))
    oauth_token_ttl_seconds: int = 3600
    faults: FaultConfig | None = None
    max_concurrency: int = 4
    sim_duration_seconds: float = 1.0
    sim_result: str = "SUCCESS"
    not_found_status: int = 400
    workspace_id: int = 1234567890123456
    idempotency_retention_seconds: float = _SIXTY_DAYS
    retry_after_seconds: int = 1
    cluster_transition_seconds: float = 0.5
    cancel_grace_seconds: float = 0.2
    clusters: tuple[str, ...] = ()
    warehouses: tuple[str, ...] = ()
    warehouse_transition_seconds: float = 0.5
    sql_chunk_rows: int = 10_000

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.not_found_status not in (400, 404):
            raise ValueError("not_found_status must be 400 or 404")
        if self.sim_duration_seconds < 0:
            raise ValueError("sim_duration_seconds must not be negative")
        if self.warehouse_transition_seconds < 0:
            raise ValueError("warehouse_transition_seconds must not be negative")
        if self.sql_chunk_rows < 1:
            raise ValueError("sql_chunk_rows must be at least 1")

    @property
    def loopback_only(self) -> bool:
        """True when the emulator listens on a loopback address only (``127.0.0.1``, ``::1``, ``localhost``).

        Off loopback, its admin endpoints and HTML pages need a token too, and it warns when it starts.
        """
        return is_loopback(self.host)

    @property
    def workspace_path(self) -> Path | None:
        """The workspace folder as a resolved path, or None."""
        return None if self.workspace is None else Path(self.workspace).resolve()

    def __repr__(self) -> str:
        # Tokens, passwords and client secrets are credentials: never show them.
        return (
            f"EmulatorConfig(host={self.host!r}, port={self.port}, workspace={self.workspace!r}, "
            f"simulate={self.simulate}, tls={self.tls}, tokens=<{len(self.tokens)} hidden>, "
            f"max_concurrency={self.max_concurrency})"
        )


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost``; False for any other name or address (``0.0.0.0``)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
