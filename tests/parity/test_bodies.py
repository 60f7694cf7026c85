"""Each case of the table, executed by the official operator and by ours; their requests compared.

Requests are recorded at the emulator. Compared per case: the outcome (success, or refused: a
construction or execution error, whether before any request or on Databricks' answer), the body of
every POST in order (our derived ``idempotency_token`` removed when the case sets none), and the XCom
keys. A case whose ``differs`` is set must differ (else its note is stale); any other must not.

Both sides run with ``deferrable=False`` unless the case sets it: that is the official default
(``[operators] default_deferrable``), while ours defaults to ``True``, which would only add the
``job_id`` XCom that the official operator pushes in deferrable mode (see the deferrable cases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.databricks.operators import databricks as official

from airflow_dbx_async import operators as ours
from tests.parity.cases import CASES, Case
from tests.parity.conftest import ParityTI, parity_context

if TYPE_CHECKING:
    from tests.parity.conftest import Workspace

# The official provider calls ProvidersManager.hooks, which Airflow 3.3 flags as deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")

DS = "2017-04-20"
OFFICIAL = {"submit": official.DatabricksSubmitRunOperator, "run_now": official.DatabricksRunNowOperator}
OURS = {"submit": ours.DatabricksSubmitRunOperator, "run_now": ours.DatabricksRunNowOperator}


@dataclass
class Seen:
    """What one operator did for one case."""

    refused: str | None = None
    posts: list[tuple[str, Any]] = field(default_factory=list)
    xcom_keys: list[str] = field(default_factory=list)


@dataclass
class Tally:
    """Per-case verdicts, for the summary line."""

    identical: list[str] = field(default_factory=list)
    both_refuse: list[str] = field(default_factory=list)
    documented: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def line(self) -> str:
        total = len(self.identical) + len(self.documented) + len(self.mismatches)
        return (
            f"parity: {total} cases, {len(self.identical)} identical, "
            f"{len(self.documented)} documented differences, {len(self.mismatches)} mismatches "
            f"({len(self.both_refuse)} of the identical cases are refused by both)"
        )


TALLY = Tally()
# Ids of runs and repairs differ between the two sides' runs: compare them as placeholders.
_IDS = {"run_id": "<run id>", "latest_repair_id": "<repair id>"}


def _user_token(case: Case) -> bool:
    json = case.kwargs.get("json")
    return "idempotency_token" in case.kwargs or (isinstance(json, dict) and "idempotency_token" in json)


def _execute(cls: type, case: Case, workspace: Workspace, *, ours_side: bool) -> Seen:
    kwargs = {"deferrable": False, **case.kwargs}
    ti = ParityTI(task_id=case.id)
    seen = Seen()
    workspace.recorder.take()
    try:
        op = cls(task_id=case.id, **kwargs)
        if case.render:
            op.render_template_fields({"ds": DS, "params": op.params, "ti": ti})
        op.execute(parity_context(ti))
    except Exception as exc:  # a refusal is an outcome to compare, not a test error
        seen.refused = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    for request in workspace.recorder.take():
        if request.method != "POST":
            continue
        body = {key: _IDS.get(key, value) for key, value in (request.body or {}).items()}
        if ours_side and not _user_token(case):
            body.pop("idempotency_token", None)
        seen.posts.append((request.path.split("/", 3)[3], body))
    seen.xcom_keys = [key for key, _ in ti.pushed]
    return seen


def _differences(theirs: Seen, mine: Seen) -> list[str]:
    if theirs.refused is not None and mine.refused is not None and not (theirs.posts and mine.posts):
        return []  # both refuse, one before any request and one on Databricks' answer: the task fails alike
    found = []
    if (theirs.refused is None) != (mine.refused is None):
        found.append(f"outcome: official {theirs.refused or 'ok'} / ours {mine.refused or 'ok'}")
    if theirs.posts != mine.posts:
        found.append(f"requests: official {theirs.posts} / ours {mine.posts}")
    if theirs.xcom_keys != mine.xcom_keys:
        found.append(f"xcom keys: official {theirs.xcom_keys} / ours {mine.xcom_keys}")
    return found


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}-{c.id}" for c in CASES])
def test_case(case: Case, workspace: Workspace) -> None:
    theirs = _execute(OFFICIAL[case.kind], case, workspace, ours_side=False)
    mine = _execute(OURS[case.kind], case, workspace, ours_side=True)
    found = _differences(theirs, mine)
    if not found:
        if theirs.refused is not None:
            TALLY.both_refuse.append(case.id)
            print(
                f"BOTH-REFUSE {case.id}: official {theirs.refused} {len(theirs.posts)} / ours {mine.refused}"
            )
        TALLY.identical.append(case.id)
        assert not case.differs, f"documented difference no longer seen (stale note): {case.differs}"
        return
    if case.differs:
        TALLY.documented.append(case.id)
        return
    TALLY.mismatches.append(case.id)
    pytest.fail("undocumented difference: " + "; ".join(text[:600] for text in found))


def test_case_table_covers_every_parameter_of_both_official_operators() -> None:
    import inspect

    for kind, cls in OFFICIAL.items():
        init = vars(cls)["__init__"]
        wanted = {n for n, p in inspect.signature(init).parameters.items() if p.kind is p.KEYWORD_ONLY}
        used = {name for case in CASES if case.kind == kind for name in case.kwargs}
        assert wanted - used == set(), kind
    assert len(CASES) >= 120
    assert len({(c.kind, c.id) for c in CASES}) == len(CASES)
