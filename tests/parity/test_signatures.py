"""Every constructor parameter of the official operators is accepted, with the same default."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from airflow.providers.databricks.operators import databricks as official
from airflow.providers.databricks.operators import databricks_repos as official_repos

from airflow_dbx_async import operators as ours

PAIRS = [
    (official.DatabricksSubmitRunOperator, ours.DatabricksSubmitRunOperator),
    (official.DatabricksRunNowOperator, ours.DatabricksRunNowOperator),
    (official.DatabricksCreateJobsOperator, ours.DatabricksCreateJobsOperator),
    (official_repos.DatabricksReposCreateOperator, ours.DatabricksReposCreateOperator),
    (official_repos.DatabricksReposUpdateOperator, ours.DatabricksReposUpdateOperator),
    (official_repos.DatabricksReposDeleteOperator, ours.DatabricksReposDeleteOperator),
]
IDS = ["submit", "run_now", "create_jobs", "repos_create", "repos_update", "repos_delete"]
# Deliberate: ours waits in the triggerer unless told otherwise (the official default reads
# [operators] default_deferrable, False unless configured).
DIFFERENT_DEFAULTS = {"deferrable": (False, True)}


def _parameters(cls: type) -> dict[str, Any]:
    """Keyword parameters of ``cls.__init__`` and of its bases that take ``**kwargs`` up to BaseOperator."""
    found: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass.__module__.startswith("airflow.sdk") or klass is object:
            break
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, param in inspect.signature(init).parameters.items():
            if param.kind is param.KEYWORD_ONLY:
                found.setdefault(name, param.default)
    return found


@pytest.mark.parametrize(("theirs", "mine"), PAIRS, ids=IDS)
def test_every_official_parameter_is_accepted_with_the_same_default(theirs: type, mine: type) -> None:
    official_params = _parameters(theirs)
    our_params = _parameters(mine)
    missing = sorted(set(official_params) - set(our_params))
    assert missing == []
    for name, default in official_params.items():
        expected = DIFFERENT_DEFAULTS.get(name, (default, default))
        assert (default, our_params[name]) == expected, name


@pytest.mark.parametrize(("theirs", "mine"), PAIRS, ids=IDS)
def test_templated_fields_and_extension_are_identical(theirs: Any, mine: Any) -> None:
    assert tuple(mine.template_fields) == tuple(theirs.template_fields)
    assert tuple(mine.template_ext) == tuple(theirs.template_ext)
    assert (mine.ui_color, mine.ui_fgcolor) == (theirs.ui_color, theirs.ui_fgcolor)


def test_run_now_keeps_transport_info_to_submit_only_like_the_official_operator() -> None:
    assert "openlineage_inject_transport_info" not in _parameters(official.DatabricksRunNowOperator)
    assert "openlineage_inject_transport_info" not in _parameters(ours.DatabricksRunNowOperator)
