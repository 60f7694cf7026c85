"""The state objects the official ``DatabricksHook`` returns (for our ``DatabricksHook``).

They keep the official shapes: plain string attributes, ``is_terminal``/``is_successful`` (runs) and
``is_terminal``/``is_running`` (clusters), equality on the attributes and a JSON round trip, so code
and XComs written for the official hook read them unchanged.
"""

from __future__ import annotations

import enum
import json
from typing import Any

from airflow.sdk.exceptions import AirflowException

__all__ = ("ClusterState", "RunLifeCycleState", "RunState")


class RunLifeCycleState(enum.Enum):
    """Life cycle states of a Databricks run."""

    BLOCKED = "BLOCKED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    PENDING = "PENDING"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SKIPPED = "SKIPPED"
    TERMINATED = "TERMINATED"
    TERMINATING = "TERMINATING"
    WAITING_FOR_RETRY = "WAITING_FOR_RETRY"


_KNOWN_RUN_STATES = frozenset(state.value for state in RunLifeCycleState)
_TERMINAL_RUN_STATES = frozenset({"TERMINATED", "SKIPPED", "INTERNAL_ERROR"})


class RunState:
    """The official hook's ``RunState``; not the client's :class:`~airflow_dbx_async.client.RunState`.

    The class keeps the official name (code written for the official hook may check it, and the
    parity tests do); the rest of the package imports it as ``hooks.HookRunState``.

    A run's state: ``life_cycle_state``, ``result_state`` and ``state_message`` as strings.

    An unknown life cycle state raises ``AirflowException``, as the official class does; other keys of
    the API's state object are ignored.
    """

    RUN_LIFE_CYCLE_STATES = sorted(_KNOWN_RUN_STATES)

    def __init__(
        self, life_cycle_state: str, result_state: str = "", state_message: str = "", *_: Any, **__: Any
    ):
        if life_cycle_state not in _KNOWN_RUN_STATES:
            raise AirflowException(
                f"Unexpected life cycle state: {life_cycle_state}: if the state was introduced recently, "
                "see the Databricks documentation of run states"
            )
        self.life_cycle_state = life_cycle_state
        self.result_state = result_state
        self.state_message = state_message

    @property
    def is_terminal(self) -> bool:
        """True once the run can no longer change."""
        return self.life_cycle_state in _TERMINAL_RUN_STATES

    @property
    def is_successful(self) -> bool:
        """True when the result is ``SUCCESS``."""
        return self.result_state == "SUCCESS"

    def _key(self) -> tuple[str, str, str]:
        return (self.life_cycle_state, self.result_state, self.state_message)

    def __eq__(self, other: object) -> bool:
        return self._key() == other._key() if isinstance(other, RunState) else NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return str(self.__dict__)

    def to_json(self) -> str:
        """The three attributes as a JSON object."""
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, data: str) -> RunState:
        """Rebuild from :meth:`to_json` output."""
        return cls(**json.loads(data))


class ClusterState:
    """A cluster's ``state`` and ``state_message``; an unknown state raises ``AirflowException``."""

    CLUSTER_LIFE_CYCLE_STATES = [
        "PENDING",
        "RUNNING",
        "RESTARTING",
        "RESIZING",
        "TERMINATING",
        "TERMINATED",
        "ERROR",
        "UNKNOWN",
    ]

    def __init__(self, state: str = "", state_message: str = "", *_: Any, **__: Any) -> None:
        if state not in self.CLUSTER_LIFE_CYCLE_STATES:
            raise AirflowException(f"Unexpected cluster life cycle state: {state}")
        self.state = state
        self.state_message = state_message

    @property
    def is_terminal(self) -> bool:
        """True for a terminated, terminating or failed cluster."""
        return self.state in ("TERMINATING", "TERMINATED", "ERROR", "UNKNOWN")

    @property
    def is_running(self) -> bool:
        """True while the cluster can run work."""
        return self.state in ("RUNNING", "RESIZING")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClusterState):
            return NotImplemented
        return (self.state, self.state_message) == (other.state, other.state_message)

    def __hash__(self) -> int:
        return hash((self.state, self.state_message))

    def __repr__(self) -> str:
        return str(self.__dict__)

    def to_json(self) -> str:
        """The two attributes as a JSON object."""
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, data: str) -> ClusterState:
        """Rebuild from :meth:`to_json` output."""
        return cls(**json.loads(data))
