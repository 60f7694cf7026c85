"""The client's public API is explicit: a sorted ``__all__`` of what users need, and nothing more.

Its users include the package's Airflow layer, which imports nothing else from the client. Singletons
and the machinery a triggerer shares (session pool, rate limiter, run poller, workspace registry, retry
loop, transport) live in private modules and stay out of ``client.__all__``.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import airflow_dbx_async.client as client

_MODULES = sorted(m.name for m in pkgutil.iter_modules(client.__path__))
_PUBLIC_MODULES = [m for m in _MODULES if not m.startswith("_")]

USER_API = {
    # configure and connect
    "JobsClient",
    "Proxies",
    "AuthHeaders",
    "FetchToken",
    "AZURE_IMDS_TOKEN_URL",
    "ClientConfig",
    "Workspace",
    "CallPolicy",
    "RetryPolicy",
    "normalise_base_url",
    # credentials
    "Auth",
    "TokenAuth",
    "BasicAuth",
    "OAuthM2MAuth",
    "AzureServicePrincipalAuth",
    "AzureManagedIdentityAuth",
    "DefaultAzureCredentialAuth",
    "AzureTokenCredential",
    "FederatedTokenAuth",
    "SubjectTokenSource",
    "ProjectedVolumeToken",
    "KubernetesTokenRequest",
    "CallableSubjectToken",
    "clear_token_cache",
    # errors
    "DatabricksError",
    "ConfigurationError",
    "TransportError",
    "Timeout",
    "ApiError",
    "AuthError",
    "NotFound",
    "RateLimited",
    "ServerError",
    "is_retryable",
    # runs and their verdict
    "Run",
    "RunState",
    "TaskRun",
    "RunOutput",
    "RunsPage",
    "LifeCycleState",
    "ResultState",
    "Outcome",
    "Judgement",
    "judge",
    # SQL statements and warehouses (JobsClient.sql) and the statement's verdict
    "SqlClient",
    "QueryInfo",
    "Statement",
    "StatementStatus",
    "StatementState",
    "ResultChunk",
    "StatementOutcome",
    "StatementJudgement",
    "judge_statement",
    "Warehouse",
    "WarehouseState",
    # pipelines, repos and object permissions (JobsClient.pipelines, .repos, .permissions)
    "PipelinesClient",
    "ReposClient",
    "PermissionsClient",
    "pipeline_name_filter",
    # what a run's export holds
    "RunExport",
    "ExportedView",
    "NotebookOutput",
    "CellOutput",
    # text and numbers from a run, read the one way
    "sanitize_text",
    "truncate_head",
    "truncate_tail",
    "lenient_int",
    "check_number",
    # sharing one workspace among the triggers of a triggerer
    "borrow_workspace",
    "Borrowing",
    "RunWatch",
    # a caller's deadline against the workspace's Retry-After hold (the trigger's, and a cancel's)
    "deadline_scope",
    "through_hold",
    "HoldPastDeadline",
}


def test_all_is_a_sorted_tuple_without_duplicates():
    assert isinstance(client.__all__, tuple)
    assert list(client.__all__) == sorted(client.__all__)
    assert len(set(client.__all__)) == len(client.__all__)


def test_all_is_exactly_what_users_need():
    assert set(client.__all__) == USER_API


@pytest.mark.parametrize(
    "internal",
    ["SESSION_POOL", "WORKSPACES", "SessionPool", "RateLimiter", "RunPoller", "call_with_retry", "Transport"],
)
def test_singletons_and_internals_are_not_exported(internal):
    assert internal not in client.__all__
    assert not hasattr(client, internal)


def test_every_exported_name_is_importable():
    for name in client.__all__:
        assert getattr(client, name) is not None, name
    namespace: dict[str, object] = {}
    exec("from airflow_dbx_async.client import *", namespace)
    assert set(client.__all__) <= set(namespace)


@pytest.mark.parametrize("module_name", _MODULES)
def test_every_module_declares_all(module_name):
    module = importlib.import_module(f"{client.__name__}.{module_name}")
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, tuple), f"{module_name} has no tuple __all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"


@pytest.mark.parametrize("module_name", _PUBLIC_MODULES)
def test_public_modules_are_reexported(module_name):
    module = importlib.import_module(f"{client.__name__}.{module_name}")
    for name in module.__all__:
        assert name in client.__all__, f"{module_name}.{name} is public but not in client.__all__"
        assert getattr(client, name) is getattr(module, name)


def test_no_public_module_level_name_is_forgotten():
    # In a public module every class and function it defines without a leading underscore is public.
    # (In a private ``_module`` only the names in its ``__all__`` are; the rest is internal.)
    for module_name in _PUBLIC_MODULES:
        module = importlib.import_module(f"{client.__name__}.{module_name}")
        for name, value in vars(module).items():
            if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
                continue
            if isinstance(value, type) or callable(value):
                assert name in module.__all__, f"{module_name}.{name} is public but not in __all__"
