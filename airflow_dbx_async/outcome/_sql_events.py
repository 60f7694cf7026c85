"""The SQL triggers' one event each: what was seen of a statement or a warehouse, as primitives.

Like :class:`~airflow_dbx_async.outcome.RunEvent`, an event says why watching stopped and carries what
the task needs when it resumes, since ``dag.test()`` replaces a deferral's ``next_kwargs`` with the
event: the statement's last status (in the API's own ``status`` shape, parsed back with
:meth:`~airflow_dbx_async.client.StatementStatus.from_api`), its warehouse, and the states the watch
saw, with when it saw them. An event stays small: the error message is cut, the state history keeps its
first and latest entries. Decoding is tolerant of missing keys but refuses a payload that is not an
object or names an unknown status. :func:`read_official_statement_event` reads the official
``DatabricksSQLStatementExecutionTrigger``'s event, so a task deferred by the official operator resumes
in ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from airflow_dbx_async.client import StatementState, StatementStatus, WarehouseState, truncate_head
from airflow_dbx_async.outcome._events import STATUSES, EventStatus
from airflow_dbx_async.outcome._failure_details import text_field
from airflow_dbx_async.outcome._verdict import Action, StopReason, decide_statement

__all__ = (
    "MAX_HISTORY",
    "History",
    "StatementEvent",
    "WarehouseEvent",
    "is_official_statement_event",
    "read_official_statement_event",
    "saw",
)

#: state changes an event keeps: the first one and the latest ones
MAX_HISTORY = 20
_MESSAGE_LIMIT = 2_000
_REASON_LIMIT = 300
#: ``(state, epoch seconds)`` of each state change a watch saw, oldest first
History = tuple[tuple[str, float], ...]


def saw(history: History, state: str, at: float) -> History:
    """``history`` with ``state`` seen at ``at`` added when it differs from the latest entry."""
    if history and history[-1][0] == state:
        return history
    added = (*history, (state, float(at)))
    if len(added) > MAX_HISTORY:  # keep how it began and how it ended
        added = (added[0], *added[-(MAX_HISTORY - 1) :])
    return added


def _history(value: object) -> History:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return ()
    found: list[tuple[str, float]] = []
    for item in value:
        if isinstance(item, Sequence) and not isinstance(item, str | bytes) and len(item) == 2:
            state, at = item
            if isinstance(state, str) and isinstance(at, int | float) and not isinstance(at, bool):
                found.append((state, float(at)))
    return tuple(found[-MAX_HISTORY:])


def _status_payload(status: StatementStatus) -> dict[str, Any]:
    """The API's ``status`` object for ``status`` (what :meth:`StatementStatus.from_api` reads)."""
    payload: dict[str, Any] = {"state": status.raw_state or status.state.value}
    if status.error_code or status.error_message:
        payload["error"] = {"error_code": status.error_code, "message": status.error_message}
    if status.sql_state:
        payload["sql_state"] = status.sql_state
    return payload


def _status(data: object) -> EventStatus:
    status = data.get("status") if isinstance(data, Mapping) else None
    if not isinstance(data, Mapping):
        raise ValueError(f"trigger event payload must be an object, got {type(data).__name__}")
    if status not in STATUSES:
        raise ValueError(f"trigger event has unknown status {status!r}")
    return cast("EventStatus", status)


def _stopped(value: object) -> StopReason:
    try:
        return StopReason(value)
    except ValueError:
        return StopReason.FINAL


@dataclass(frozen=True)
class StatementEvent:
    """The outcome of watching one SQL statement.

    :param status: ``success``, ``failed`` (the statement ended badly, or the deadline passed) or
        ``error`` (it could not be watched).
    :param statement_id: the statement's id.
    :param warehouse_id: the warehouse it ran on, when known.
    :param state: its last known status (the error included), or ``None``.
    :param reason: one short line saying why.
    :param stopped: why watching stopped.
    :param history: the state changes seen, with when they were seen.
    """

    status: EventStatus
    statement_id: str
    warehouse_id: str = ""
    state: StatementStatus | None = None
    reason: str = ""
    stopped: StopReason = StopReason.FINAL
    history: History = ()

    @classmethod
    def final(
        cls, statement_id: str, status: StatementStatus, *, warehouse_id: str = "", history: History = ()
    ) -> StatementEvent:
        """The event for a statement that ended, judged by :func:`decide_statement`."""
        status = StatementStatus(
            state=status.state,
            error_code=status.error_code,
            error_message=truncate_head(status.error_message, _MESSAGE_LIMIT),
            sql_state=status.sql_state,
            raw_state=status.raw_state,
        )
        verdict = decide_statement(StopReason.FINAL, status)
        outcome: EventStatus = "success" if verdict.action is Action.SUCCEED else "failed"
        reason = truncate_head(verdict.reason, _REASON_LIMIT)  # the message itself is in the status
        return cls(outcome, statement_id, warehouse_id, status, reason, StopReason.FINAL, history)

    def to_payload(self) -> dict[str, Any]:
        """Return a dict of primitives for ``TriggerEvent(payload)``."""
        return {
            "status": self.status,
            "statement_id": self.statement_id,
            "warehouse_id": self.warehouse_id,
            "statement_state": {} if self.state is None else _status_payload(self.state),
            "reason": self.reason,
            "stopped": self.stopped.value,
            "history": [[state, at] for state, at in self.history],
        }

    @classmethod
    def from_payload(cls, data: object) -> StatementEvent:
        """Rebuild an event; raises ``ValueError`` for a payload that is not one of ours."""
        status = _status(data)
        body = cast("Mapping[str, Any]", data)
        raw_state = body.get("statement_state")
        state = StatementStatus.from_api(raw_state) if isinstance(raw_state, Mapping) and raw_state else None
        return cls(
            status=status,
            statement_id=text_field(body.get("statement_id")),
            warehouse_id=text_field(body.get("warehouse_id")),
            state=state,
            reason=text_field(body.get("reason")),
            stopped=_stopped(body.get("stopped")),
            history=_history(body.get("history")),
        )


def is_official_statement_event(event: object) -> bool:
    """Whether ``event`` came from the official ``DatabricksSQLStatementExecutionTrigger``."""
    if not isinstance(event, Mapping):
        return False
    return isinstance(event.get("state"), str) and "statement_state" not in event


def _json_object(value: object) -> Mapping[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, Mapping) else {}


def read_official_statement_event(event: Mapping[str, Any]) -> StatementEvent:
    """The official trigger's event (``statement_id``, ``state`` as JSON, ``error``) as ours.

    Its timeout event carries ``error_code`` ``TIMEOUT`` with the last state seen (the statement was
    cancelled): that is a watch stopped at the deadline.
    """
    state = _json_object(event.get("state"))
    error = _json_object(event.get("error"))
    code = text_field(error.get("error_code") or state.get("error_code"))
    message = text_field(error.get("error_message") or state.get("error_message"))
    status = StatementStatus.from_api(
        {"state": state.get("state"), "error": {"error_code": code, "message": message}}
    )
    statement_id = text_field(event.get("statement_id"))
    if code == "TIMEOUT" and status.state not in (StatementState.FAILED, StatementState.CANCELED):
        reason = message or "the statement's timeout passed"
        return StatementEvent("failed", statement_id, "", status, reason, StopReason.DEADLINE)
    return StatementEvent.final(statement_id, status)


_OFFICIAL_WAREHOUSE = {"deleted": StopReason.FINAL, "timeout": StopReason.DEADLINE}


@dataclass(frozen=True)
class WarehouseEvent:
    """The outcome of waiting for a SQL warehouse to reach a state.

    :param status: ``success`` (it reached ``target_state``), ``failed`` (deleted, stopped while
        starting, started again while stopping, or the deadline passed) or ``error`` (it could not be
        watched).
    :param warehouse_id: the warehouse's id.
    :param target_state: ``RUNNING`` or ``STOPPED``.
    :param last_state: the state last seen (``UNKNOWN`` before any).
    :param reason: one short line saying why.
    :param stopped: why watching stopped.
    :param history: the state changes seen, with when they were seen.
    :param health: the warehouse's health status and summary when it last reported one.
    """

    status: EventStatus
    warehouse_id: str
    target_state: str
    last_state: str = WarehouseState.UNKNOWN.value
    reason: str = ""
    stopped: StopReason = StopReason.FINAL
    history: History = ()
    health: str = ""

    def to_payload(self) -> dict[str, Any]:
        """Return a dict of primitives for ``TriggerEvent(payload)``."""
        return {
            "status": self.status,
            "warehouse_id": self.warehouse_id,
            "target_state": self.target_state,
            "last_state": self.last_state,
            "reason": self.reason,
            "stopped": self.stopped.value,
            "history": [[state, at] for state, at in self.history],
            "health": self.health,
        }

    @classmethod
    def from_payload(cls, data: object) -> WarehouseEvent:
        """Rebuild an event; raises ``ValueError`` for a payload that is not an event of this kind.

        The official ``DatabricksWarehouseStateTrigger``'s events (status ``deleted`` or ``timeout``)
        read as failures, so a task deferred by the official operator resumes in ours.
        """
        if isinstance(data, Mapping) and data.get("status") in _OFFICIAL_WAREHOUSE:
            stopped = _OFFICIAL_WAREHOUSE[data["status"]]
            last, target = text_field(data.get("last_state")), text_field(data.get("target_state"))
            reason = f"entered {last} while waiting for {target}" if stopped is StopReason.FINAL else ""
            data = {**data, "status": "failed", "stopped": stopped.value, "reason": reason}
        status = _status(data)
        body = cast("Mapping[str, Any]", data)
        return cls(
            status=status,
            warehouse_id=text_field(body.get("warehouse_id")),
            target_state=text_field(body.get("target_state")),
            last_state=text_field(body.get("last_state")) or WarehouseState.UNKNOWN.value,
            reason=text_field(body.get("reason")),
            stopped=_stopped(body.get("stopped")),
            history=_history(body.get("history")),
            health=text_field(body.get("health")),
        )
