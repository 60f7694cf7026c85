"""Each case of the table, executed by the official operator and by ours; their requests compared.

Requests are recorded at the emulator. Compared per case: the outcome (success, or refused: a
construction or execution error, whether before any request or on Databricks' answer), the body of
every request that changes something (POST, and PATCH, PUT, DELETE with their method) in order (our
derived ``idempotency_token`` removed when the case sets none; ids in paths as ``<id>``), the XCom
keys and the kind of value ``execute`` returns (the ``return_value`` XCom). Each side starts from the
same jobs and repos: what the official side created or changed is put back before ours runs. A case
whose ``differs`` is set must differ (else its note is stale); any other must not.

Both sides run with ``deferrable=False`` unless the case sets it: that is the official default
(``[operators] default_deferrable``), while ours defaults to ``True``, which would only add the
``job_id`` XCom that the official operator pushes in deferrable mode (see the deferrable cases).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from airflow.providers.databricks.operators import databricks as official
from airflow.providers.databricks.operators import databricks_repos as official_repos

from airflow_dbx_async import operators as ours
from tests.parity.cases import CASES, SEEDED_REPO_ID, Case
from tests.parity.conftest import ParityTI, parity_context

if TYPE_CHECKING:
    from tests.parity.conftest import Workspace

# The official provider calls ProvidersManager.hooks, which Airflow 3.3 flags as deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:ProvidersManager.hooks is deprecated")

DS = "2017-04-20"
OFFICIAL = {
    "submit": official.DatabricksSubmitRunOperator,
    "run_now": official.DatabricksRunNowOperator,
    "create_jobs": official.DatabricksCreateJobsOperator,
    "repos_create": official_repos.DatabricksReposCreateOperator,
    "repos_update": official_repos.DatabricksReposUpdateOperator,
    "repos_delete": official_repos.DatabricksReposDeleteOperator,
}
OURS = {
    "submit": ours.DatabricksSubmitRunOperator,
    "run_now": ours.DatabricksRunNowOperator,
    "create_jobs": ours.DatabricksCreateJobsOperator,
    "repos_create": ours.DatabricksReposCreateOperator,
    "repos_update": ours.DatabricksReposUpdateOperator,
    "repos_delete": ours.DatabricksReposDeleteOperator,
}
# The kinds that run a Databricks job and take ``deferrable``.
RUN_KINDS = ("submit", "run_now")


@dataclass
class Seen:
    """What one operator did for one case."""

    refused: str | None = None
    posts: list[tuple[str, Any]] = field(default_factory=list)
    xcom_keys: list[str] = field(default_factory=list)
    returned: str = "None"


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


def _returned(value: Any) -> str:
    """What ``execute`` returned, with ids (which differ between the sides) as their kind only."""
    if value is None:
        return "None"
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return f"<{type(value).__name__} id>"
    return type(value).__name__


def _request_key(method: str, path: str) -> str:
    """``jobs/create`` for a POST, ``PATCH repos/<id>`` otherwise; ids in paths become ``<id>``."""
    tail = re.sub(r"/+", "/", path.split("/", 3)[3])
    tail = re.sub(r"(?<=/)\d+(?=/|$)", "<id>", tail)
    return tail if method == "POST" else f"{method} {tail}"


def _execute(cls: type, case: Case, workspace: Workspace, *, ours_side: bool) -> Seen:
    kwargs = {"deferrable": False, **case.kwargs} if case.kind in RUN_KINDS else dict(case.kwargs)
    kwargs = {k: workspace.seeded_repo_id if v == SEEDED_REPO_ID else v for k, v in kwargs.items()}
    ti = ParityTI(task_id=case.id)
    seen = Seen()
    workspace.recorder.take()
    try:
        op = cls(task_id=case.id, **kwargs)
        if case.render:
            op.render_template_fields({"ds": DS, "params": op.params, "ti": ti})
        seen.returned = _returned(op.execute(parity_context(ti)))
    except Exception as exc:  # a refusal is an outcome to compare, not a test error
        seen.refused = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    for request in workspace.recorder.take():
        if request.method == "GET":
            continue
        body = {key: _IDS.get(key, value) for key, value in (request.body or {}).items()}
        if ours_side and not _user_token(case):
            body.pop("idempotency_token", None)
        seen.posts.append((_request_key(request.method, request.path), body))
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
    if theirs.refused is None and mine.refused is None and theirs.returned != mine.returned:
        found.append(f"returned: official {theirs.returned} / ours {mine.returned}")
    return found


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}-{c.id}" for c in CASES])
def test_case(case: Case, workspace: Workspace) -> None:
    before = workspace.snapshot()
    try:
        theirs = _execute(OFFICIAL[case.kind], case, workspace, ours_side=False)
        workspace.restore(before)
        mine = _execute(OURS[case.kind], case, workspace, ours_side=True)
    finally:
        workspace.restore(before)
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


def test_case_table_covers_every_parameter_of_the_official_operators() -> None:
    import inspect

    for kind, cls in OFFICIAL.items():
        init = vars(cls)["__init__"]
        wanted = {n for n, p in inspect.signature(init).parameters.items() if p.kind is p.KEYWORD_ONLY}
        used = {name for case in CASES if case.kind == kind for name in case.kwargs}
        assert wanted - used == set(), kind
    assert len(CASES) >= 120
    assert len({(c.kind, c.id) for c in CASES}) == len(CASES)


def test_the_migration_page_quotes_the_figure_of_this_run() -> None:
    """``docs/migration.md`` quotes the summary line; checked after a full run without mismatches."""
    ran = len(TALLY.identical) + len(TALLY.documented) + len(TALLY.mismatches)
    if ran != len(CASES) or TALLY.mismatches:
        pytest.skip("only a full run of the case table without mismatches gives the figure")
    page = (Path(__file__).resolve().parents[2] / "docs" / "migration.md").read_text(encoding="utf-8")
    assert TALLY.line() in page, f"docs/migration.md should quote: {TALLY.line()}"
