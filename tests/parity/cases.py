"""The parity case table: operator constructions in the style of the official provider's own tests.

Each case is built and executed once with the official operator and once with ours, against the same
emulator. ``differs`` documents, for the cases where the two deliberately differ, what differs and
why; every other case must produce identical request bodies (our derived ``idempotency_token`` aside),
identical XCom keys, and the same outcome (both succeed, or both refuse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ("CASES", "SEEDED_REPO_ID", "Case")

NOTEBOOK = {"notebook_path": "/test"}
TEMPLATED_NOTEBOOK = {"notebook_path": "/test-{{ ds }}"}
JAR = {"main_class_name": "com.databricks.Test"}
PYTHON = {"python_file": "test.py", "parameters": ["--param", "123"]}
SPARK_SUBMIT = {"parameters": ["--class", "org.apache.spark.examples.SparkPi", "dbfs:/a.jar", "10"]}
PIPELINE = {"pipeline_id": "1234abcd"}
PIPELINE_NAME = {"pipeline_name": "A pipeline"}
DBT = {"commands": ["dbt deps", "dbt seed", "dbt run"], "schema": "jaffle_shop", "warehouse_id": "1a2b"}
GIT = {"git_url": "https://github.com/dbt-labs/jaffle_shop", "git_provider": "gitHub", "git_branch": "main"}
CLUSTER = {"spark_version": "15.4.x-scala2.12", "node_type_id": "i3.xlarge", "num_workers": 1}
ELASTIC = {**CLUSTER, "enable_elastic_disk": True}
LIBRARIES = [{"jar": "dbfs:/mnt/libraries/library.jar"}, {"pypi": {"package": "simplejson"}}]
ENVIRONMENTS = [{"environment_key": "default", "spec": {"client": "1", "dependencies": ["pandas"]}}]
ACL = [{"user_name": "jsmith@example.com", "permission_level": "CAN_MANAGE"}]
WHEEL = {"package_name": "pkg", "entry_point": "main"}
SQL = {"query": {"query_id": "q-1"}, "warehouse_id": "w-1"}
RUN_JOB = {"job_id": "101"}
TASKS = [
    {"task_key": "ingest", "existing_cluster_id": "0923-164208-meows279", "spark_jar_task": JAR},
    {
        "task_key": "report",
        "depends_on": [{"task_key": "ingest"}],
        "new_cluster": CLUSTER,
        "notebook_task": NOTEBOOK,
    },
]
NOTEBOOK_PARAMS = {"dry-run": "true", "oldest-time-to-consider": "1457570074236"}
JAR_PARAMS = ["param1", "param2"]
PYTHON_PARAMS = ["john doe", "35"]
SPARK_SUBMIT_PARAMS = ["--class", "org.apache.spark.examples.SparkPi"]
DBT_COMMANDS = ["dbt deps", "dbt seed", "dbt run"]
PARAMS = {"env": "prod", "limit": 10, "skipped": None}

NO_EMPTY_SLOT = (
    "OpenLineage injection requested without the OpenLineage provider: the official operator still "
    "writes an empty parameter slot ({}); ours sends the body unchanged and logs one line"
)


Kind = Literal["submit", "run_now", "create_jobs", "repos_create", "repos_update", "repos_delete"]
# Stands for the id of the repo at SEEDED_REPO (tests/parity/conftest.py), known once the emulator runs.
SEEDED_REPO_ID = "<seeded repo id>"


@dataclass(frozen=True)
class Case:
    """One construction, executed by both operators."""

    id: str
    kind: Kind
    kwargs: dict[str, Any]
    differs: str = ""
    render: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _submit(id: str, differs: str = "", render: bool = False, **kwargs: Any) -> Case:
    return Case(id, "submit", kwargs, differs, render)


def _run_now(id: str, differs: str = "", render: bool = False, **kwargs: Any) -> Case:
    return Case(id, "run_now", kwargs, differs, render)


def _case(kind: Kind) -> Any:
    def make(id: str, differs: str = "", render: bool = False, **kwargs: Any) -> Case:
        return Case(id, kind, kwargs, differs, render)

    return make


_create_jobs = _case("create_jobs")
_repos_create = _case("repos_create")
_repos_update = _case("repos_update")
_repos_delete = _case("repos_delete")


def _failing(task: dict[str, Any]) -> dict[str, Any]:
    return {**task, "base_parameters": {"sim_result": "FAILED", "sim_error": "ValueError: boom"}}


SUBMIT_SINGLE_TASKS: list[Case] = [
    _submit("notebook_task", notebook_task=NOTEBOOK, new_cluster=CLUSTER),
    _submit("notebook_task_existing_cluster", notebook_task=NOTEBOOK, existing_cluster_id="c-1"),
    _submit("spark_jar_task", spark_jar_task=JAR, new_cluster=CLUSTER, libraries=LIBRARIES),
    _submit("spark_python_task", spark_python_task=PYTHON, new_cluster=CLUSTER),
    _submit("spark_submit_task", spark_submit_task=SPARK_SUBMIT, new_cluster=CLUSTER),
    _submit("pipeline_task_id", pipeline_task=PIPELINE),
    _submit("pipeline_task_name", pipeline_task=PIPELINE_NAME),
    _submit("pipeline_task_name_in_json", json={"pipeline_task": PIPELINE_NAME}, durable=False),
    _submit("pipeline_task_name_full_refresh", pipeline_task={**PIPELINE_NAME, "full_refresh": True}),
    _submit("pipeline_task_name_not_found", pipeline_task={"pipeline_name": "no such pipeline"}),
    _submit("pipeline_task_name_ambiguous", pipeline_task={"pipeline_name": "twin pipeline"}),
    _submit(
        "pipeline_task_name_in_tasks",
        tasks=[{"task_key": "p", "pipeline_task": PIPELINE_NAME}],
    ),
    _submit("dbt_task_git_source", dbt_task=DBT, git_source=GIT, new_cluster=CLUSTER),
    _submit("dbt_task_without_git_source", dbt_task=DBT, new_cluster=CLUSTER),
    _submit("dbt_task_in_json_without_git_source", json={"dbt_task": DBT, "new_cluster": CLUSTER}),
    _submit("dbt_task_mixed", json={"dbt_task": DBT}, git_source=GIT, existing_cluster_id="c-1"),
    _submit("python_wheel_task_in_json", json={"python_wheel_task": WHEEL, "new_cluster": CLUSTER}),
    _submit("sql_task_in_json", json={"sql_task": SQL}),
    _submit("run_job_task_in_json", json={"run_job_task": RUN_JOB}),
    _submit("new_cluster_elastic_disk", notebook_task=NOTEBOOK, new_cluster=ELASTIC),
    _submit("libraries", notebook_task=NOTEBOOK, existing_cluster_id="c-1", libraries=LIBRARIES),
    _submit(
        "environments_named",
        json={"tasks": [{"task_key": "a", "environment_key": "default", "spark_python_task": PYTHON}]},
        environments=ENVIRONMENTS,
    ),
    _submit(
        "environments_in_json",
        json={
            "environments": ENVIRONMENTS,
            "tasks": [{"task_key": "a", "environment_key": "default", "spark_python_task": PYTHON}],
        },
    ),
    _submit("run_name", notebook_task=NOTEBOOK, new_cluster=CLUSTER, run_name="run-name"),
    _submit("run_name_in_json", json={"notebook_task": NOTEBOOK, "run_name": "from-json"}),
    _submit("timeout_seconds", notebook_task=NOTEBOOK, new_cluster=CLUSTER, timeout_seconds=3600),
    _submit("timeout_seconds_zero", notebook_task=NOTEBOOK, new_cluster=CLUSTER, timeout_seconds=0),
    _submit("idempotency_token", notebook_task=NOTEBOOK, new_cluster=CLUSTER, idempotency_token="tok-1"),
    _submit("access_control_list", notebook_task=NOTEBOOK, new_cluster=CLUSTER, access_control_list=ACL),
    _submit("git_source_notebook", notebook_task={**NOTEBOOK, "source": "GIT"}, git_source=GIT),
    _submit("performance_target", notebook_task=NOTEBOOK, performance_target="PERFORMANCE_OPTIMIZED"),
    _submit("performance_target_standard", tasks=TASKS, performance_target="STANDARD"),
    _submit("databricks_conn_id", notebook_task=NOTEBOOK, databricks_conn_id="databricks_default"),
    _submit("polling_period_seconds", notebook_task=NOTEBOOK, polling_period_seconds=5),
    _submit("polling_period_seconds_zero", notebook_task=NOTEBOOK, polling_period_seconds=0),
    _submit("databricks_retry_limit", notebook_task=NOTEBOOK, databricks_retry_limit=5),
    _submit("databricks_retry_delay", notebook_task=NOTEBOOK, databricks_retry_delay=0.5),
    _submit("databricks_retry_args", notebook_task=NOTEBOOK, databricks_retry_args={"reraise": True}),
    _submit("do_xcom_push_false", notebook_task=NOTEBOOK, do_xcom_push=False),
    _submit("wait_for_termination_false", notebook_task=NOTEBOOK, wait_for_termination=False),
    _submit("deferrable_true", notebook_task=NOTEBOOK, new_cluster=CLUSTER, deferrable=True),
    _submit("deferrable_true_no_wait", notebook_task=NOTEBOOK, deferrable=True, wait_for_termination=False),
    _submit("durable_false", notebook_task=NOTEBOOK, new_cluster=CLUSTER, durable=False),
    _submit("durable_true", notebook_task=NOTEBOOK, new_cluster=CLUSTER, durable=True),
    _submit("failing_notebook", notebook_task=_failing(NOTEBOOK), new_cluster=CLUSTER),
    _submit("failing_notebook_deferrable", notebook_task=_failing(NOTEBOOK), deferrable=True),
    _submit("failing_notebook_durable_false", notebook_task=_failing(NOTEBOOK), durable=False),
]

SUBMIT_JSON: list[Case] = [
    _submit("json_notebook", json={"notebook_task": NOTEBOOK, "new_cluster": CLUSTER}),
    _submit("json_string", json='{"notebook_task": {"notebook_path": "/test"}, "run_name": "s"}'),
    _submit("json_dict_literal", json="{'notebook_task': {'notebook_path': '/test'}}"),
    _submit("json_empty_string_with_named", json="", notebook_task=NOTEBOOK),
    _submit("json_not_a_mapping", json="[1, 2]"),
    _submit("json_unparsable", json="{not json"),
    _submit("json_list_object", json=[{"notebook_task": NOTEBOOK}]),
    _submit(
        "json_merging_named_wins",
        json={"notebook_task": NOTEBOOK, "new_cluster": CLUSTER},
        new_cluster=ELASTIC,
    ),
    _submit("json_merging_run_name", json={"notebook_task": NOTEBOOK, "run_name": "a"}, run_name="b"),
    _submit("json_bad_type", json={"notebook_task": NOTEBOOK, "test": object()}),
    _submit(
        "json_numbers_become_strings",
        json={"notebook_task": NOTEBOOK, "new_cluster": CLUSTER, "timeout_seconds": 10, "max_retries": 1.5},
    ),
    _submit("json_booleans_stay", json={"notebook_task": NOTEBOOK, "new_cluster": ELASTIC}),
    _submit("json_pipeline_id_and_name", json={"pipeline_task": {**PIPELINE, "pipeline_name": "p"}}),
    _submit("json_tasks", json={"tasks": TASKS}),
    _submit("json_tasks_and_run_name", json={"tasks": TASKS, "run_name": "multi"}),
    _submit("json_tasks_timeout", json={"tasks": TASKS, "timeout_seconds": 60}),
    _submit("json_git_source", json={"notebook_task": {**NOTEBOOK, "source": "GIT"}, "git_source": GIT}),
    _submit(
        "json_job_clusters",
        json={
            "job_clusters": [{"job_cluster_key": "jc", "new_cluster": CLUSTER}],
            "tasks": [{"task_key": "a", "job_cluster_key": "jc", "notebook_task": NOTEBOOK}],
        },
    ),
    _submit(
        "json_tasks_params_slots",
        json={
            "tasks": [
                {"task_key": "a", "notebook_task": NOTEBOOK},
                {"task_key": "b", "python_wheel_task": WHEEL},
                {"task_key": "c", "sql_task": SQL},
                {"task_key": "d", "run_job_task": RUN_JOB},
            ]
        },
        params=PARAMS,
    ),
]

SUBMIT_TASKS: list[Case] = [
    _submit("tasks", tasks=TASKS),
    _submit("tasks_and_run_name", tasks=TASKS, run_name="multi"),
    _submit("tasks_and_git_source", tasks=TASKS, git_source=GIT),
    _submit("tasks_and_acl", tasks=TASKS, access_control_list=ACL),
    _submit("tasks_timeout_and_token", tasks=TASKS, timeout_seconds=120, idempotency_token="tok-2"),
    _submit("tasks_failing", tasks=[{"task_key": "a", "notebook_task": _failing(NOTEBOOK)}]),
    _submit("tasks_duplicate_key", tasks=[{"task_key": "a", "notebook_task": NOTEBOOK}] * 2),
    _submit("tasks_empty", tasks=[]),
    _submit("no_task_at_all", run_name="nothing"),
]

SUBMIT_PARAMS: list[Case] = [
    _submit("params_into_notebook", notebook_task=NOTEBOOK, params=PARAMS),
    _submit("params_into_each_task", tasks=TASKS, params=PARAMS),
    _submit(
        "params_keep_base_parameters",
        notebook_task={**NOTEBOOK, "base_parameters": {"x": "1"}},
        params=PARAMS,
    ),
    _submit("params_skip_jar_task", spark_jar_task=JAR, new_cluster=CLUSTER, params=PARAMS),
    _submit("params_skip_python_task", spark_python_task=PYTHON, params=PARAMS),
    _submit("params_all_none", notebook_task=NOTEBOOK, params={"a": None}),
    _submit("params_with_json_wheel", json={"python_wheel_task": WHEEL}, params=PARAMS),
    _submit("params_with_json_sql", json={"sql_task": SQL}, params=PARAMS),
    _submit("params_with_run_job", json={"run_job_task": RUN_JOB}, params=PARAMS),
    _submit("params_bad_type", notebook_task=NOTEBOOK, params={"when": object()}),
]

SUBMIT_TEMPLATED: list[Case] = [
    _submit("templated_notebook", render=True, notebook_task=TEMPLATED_NOTEBOOK, new_cluster=CLUSTER),
    _submit(
        "templated_json", render=True, json={"notebook_task": TEMPLATED_NOTEBOOK, "run_name": "{{ ds }}"}
    ),
    _submit("templated_json_string", render=True, json='{"notebook_task": {"notebook_path": "/t-{{ ds }}"}}'),
    _submit("templated_run_name", render=True, notebook_task=NOTEBOOK, run_name="run-{{ ds }}"),
    _submit("templated_params", render=True, notebook_task=NOTEBOOK, params={"day": "{{ ds }}"}),
]

SUBMIT_OPENLINEAGE: list[Case] = [
    _submit(
        "ol_parent_notebook",
        NO_EMPTY_SLOT.format("notebook_task.base_parameters"),
        notebook_task=NOTEBOOK,
        new_cluster=CLUSTER,
        openlineage_inject_parent_job_info=True,
    ),
    _submit(
        "ol_transport_only",
        notebook_task=NOTEBOOK,
        new_cluster=CLUSTER,
        openlineage_inject_transport_info=True,
    ),
    _submit(
        "ol_both_tasks",
        NO_EMPTY_SLOT.format("base_parameters of each notebook task"),
        tasks=TASKS,
        openlineage_inject_parent_job_info=True,
        openlineage_inject_transport_info=True,
    ),
    _submit(
        "ol_parent_jar_only", spark_jar_task=JAR, new_cluster=CLUSTER, openlineage_inject_parent_job_info=True
    ),
    _submit(
        "ol_parent_keeps_params",
        notebook_task={**NOTEBOOK, "base_parameters": {"a": "1"}},
        openlineage_inject_parent_job_info=True,
    ),
    _submit(
        "ol_parent_existing_cluster",
        NO_EMPTY_SLOT.format("notebook_task.base_parameters"),
        notebook_task=NOTEBOOK,
        existing_cluster_id="c-1",
        openlineage_inject_parent_job_info=True,
    ),
    _submit(
        "ol_disabled",
        notebook_task=NOTEBOOK,
        openlineage_inject_parent_job_info=False,
        openlineage_inject_transport_info=False,
    ),
]

RUN_NOW: list[Case] = [
    _run_now("job_id", job_id=101),
    _run_now("job_id_string", job_id="101"),
    _run_now("job_name", job_name="nightly"),
    _run_now("job_name_not_found", job_name="no-such-job"),
    _run_now("job_name_ambiguous", job_name="twin"),
    _run_now("job_id_and_job_name", job_id=101, job_name="nightly"),
    _run_now("json_job_id_and_named_job_name", json={"job_id": 101}, job_name="nightly"),
    _run_now("unknown_job", job_id=999),
    _run_now("job_parameters", job_id=101, job_parameters={"a": "1", "b": 2}),
    _run_now("notebook_params", job_id=101, notebook_params=NOTEBOOK_PARAMS),
    _run_now("python_params", job_id=101, python_params=PYTHON_PARAMS),
    _run_now("jar_params", job_id=101, jar_params=JAR_PARAMS),
    _run_now("spark_submit_params", job_id=101, spark_submit_params=SPARK_SUBMIT_PARAMS),
    _run_now("python_named_params", job_id=101, python_named_params={"name": "john", "age": "35"}),
    _run_now("dbt_commands", job_id=101, dbt_commands=DBT_COMMANDS),
    _run_now("notebook_and_jar_params", job_id=102, notebook_params=NOTEBOOK_PARAMS, jar_params=JAR_PARAMS),
    _run_now(
        "all_legacy_params",
        job_id=102,
        notebook_params=NOTEBOOK_PARAMS,
        jar_params=JAR_PARAMS,
        python_params=PYTHON_PARAMS,
        spark_submit_params=SPARK_SUBMIT_PARAMS,
    ),
    _run_now(
        "job_parameters_with_notebook_params",
        job_id=101,
        job_parameters={"a": "1"},
        notebook_params=NOTEBOOK_PARAMS,
    ),
    _run_now(
        "job_parameters_with_dbt_commands", job_id=101, job_parameters={"a": "1"}, dbt_commands=DBT_COMMANDS
    ),
    _run_now("idempotency_token", job_id=101, idempotency_token="run-now-tok"),
    _run_now("performance_target", job_id=101, performance_target="STANDARD"),
    _run_now("databricks_conn_id", job_id=101, databricks_conn_id="databricks_default"),
    _run_now("polling_period_seconds", job_id=101, polling_period_seconds=5),
    _run_now("polling_period_seconds_zero", job_id=101, polling_period_seconds=0),
    _run_now("databricks_retry_limit", job_id=101, databricks_retry_limit=2),
    _run_now("databricks_retry_delay", job_id=101, databricks_retry_delay=0.5),
    _run_now("databricks_retry_args", job_id=101, databricks_retry_args={"reraise": True}),
    _run_now("do_xcom_push_false", job_id=101, do_xcom_push=False),
    _run_now("wait_for_termination_false", job_id=101, wait_for_termination=False),
    _run_now("deferrable_true", job_id=101, deferrable=True),
    _run_now("deferrable_true_no_wait", job_id=101, deferrable=True, wait_for_termination=False),
    _run_now("durable_false", job_id=101, durable=False),
    _run_now("durable_true", job_id=101, durable=True),
    _run_now("cancel_previous_runs", job_id=101, cancel_previous_runs=True),
    _run_now("cancel_previous_runs_job_name", job_name="nightly", cancel_previous_runs=True),
    _run_now("json_job_id", json={"job_id": 101, "notebook_params": NOTEBOOK_PARAMS}),
    _run_now("json_string", json='{"job_id": 101, "python_params": ["a"]}'),
    _run_now("json_dict_literal", json="{'job_id': 101, 'jar_params': ['x']}"),
    _run_now(
        "json_merging_named_wins",
        json={"job_id": 101, "notebook_params": {"a": "1"}},
        notebook_params=NOTEBOOK_PARAMS,
    ),
    _run_now("json_bad_type", json={"job_id": 101, "notebook_params": {"a": object()}}),
    _run_now("json_not_a_mapping", json="[101]"),
    _run_now("json_job_parameters", json={"job_id": 101, "job_parameters": {"k": "v"}}),
    _run_now("json_queue", json={"job_id": 101, "queue": {"enabled": True}}),
    _run_now("json_only", json={"job_id": 102, "only": ["nb"]}),
    _run_now("no_job", notebook_params=NOTEBOOK_PARAMS),
]

RUN_NOW_PARAMS: list[Case] = [
    _run_now("params_become_job_parameters", job_id=101, params=PARAMS),
    _run_now("params_keep_job_parameters", job_id=101, job_parameters={"x": "1"}, params=PARAMS),
    _run_now("params_all_none", job_id=101, params={"a": None}),
    _run_now("params_forward_disabled", job_id=101, params=PARAMS, forward_dag_params=False),
    _run_now("params_forward_enabled", job_id=101, params=PARAMS, forward_dag_params=True),
    _run_now("params_skip_notebook_params", job_id=101, params=PARAMS, notebook_params=NOTEBOOK_PARAMS),
    _run_now("params_skip_python_params", job_id=101, params=PARAMS, python_params=PYTHON_PARAMS),
    _run_now("params_skip_jar_params", job_id=101, params=PARAMS, jar_params=JAR_PARAMS),
    _run_now("params_skip_spark_submit", job_id=101, params=PARAMS, spark_submit_params=SPARK_SUBMIT_PARAMS),
    _run_now("params_skip_python_named", job_id=101, params=PARAMS, python_named_params={"a": "b"}),
    _run_now("params_skip_dbt_commands", job_id=101, params=PARAMS, dbt_commands=DBT_COMMANDS),
    _run_now("params_with_job_name", job_name="nightly", params=PARAMS),
    _run_now("params_with_json_job_parameters", json={"job_id": 101, "job_parameters": {}}, params=PARAMS),
    _run_now("templated_params", render=True, job_id=101, params={"day": "{{ ds }}"}),
]

RUN_NOW_TEMPLATED: list[Case] = [
    _run_now("templated_jar_params", render=True, job_id=101, jar_params=["/test-{{ ds }}"]),
    _run_now("templated_notebook_params", render=True, job_id=101, notebook_params={"day": "{{ ds }}"}),
    _run_now("templated_job_id", render=True, job_id="{{ 100 + 1 }}"),
    _run_now("templated_job_name", render=True, job_name="{{ 'nightly' }}"),
    _run_now("templated_json", render=True, json={"job_id": 101, "python_params": ["{{ ds }}"]}),
    _run_now("templated_job_parameters", render=True, job_id=101, job_parameters={"day": "{{ ds }}"}),
    _run_now("templated_idempotency_token", render=True, job_id=101, idempotency_token="tok-{{ ds }}"),
]

RUN_NOW_REPAIR: list[Case] = [
    _run_now("repair_run_success", job_id=101, repair_run=True),
    _run_now("repair_run_failing", job_id=301, repair_run=True),
    _run_now(
        "repair_run_failing_job_parameters",
        job_id=301,
        repair_run=True,
        job_parameters={"k": "v"},
    ),
    _run_now(
        "repair_reason_matches",
        job_id=301,
        repair_run=True,
        databricks_repair_reason_new_settings={"Task nb failed": {"timeout_seconds": 60}},
    ),
    _run_now(
        "repair_reason_no_match",
        job_id=301,
        repair_run=True,
        databricks_repair_reason_new_settings={"Cluster terminated": {"timeout_seconds": 60}},
    ),
    _run_now("repair_run_false_failing", job_id=301, repair_run=False),
    _run_now("repair_run_deferrable_failing", job_id=301, deferrable=True),
    _run_now("failing_job_durable_false", job_id=301, durable=False),
]

RUN_NOW_OPENLINEAGE: list[Case] = [
    _run_now(
        "ol_parent",
        NO_EMPTY_SLOT.format("job_parameters"),
        job_id=101,
        openlineage_inject_parent_job_info=True,
    ),
    _run_now(
        "ol_parent_with_job_parameters",
        job_id=101,
        job_parameters={"a": "1"},
        openlineage_inject_parent_job_info=True,
    ),
    _run_now(
        "ol_parent_legacy_slot",
        job_id=101,
        notebook_params=NOTEBOOK_PARAMS,
        openlineage_inject_parent_job_info=True,
    ),
    _run_now("ol_parent_with_params", job_id=101, params=PARAMS, openlineage_inject_parent_job_info=True),
    _run_now("ol_disabled", job_id=101, openlineage_inject_parent_job_info=False),
]

# Checks ours makes before any request, each against what the official operator and Databricks do:
# the emulator refuses these bodies as the Jobs API does (400), so both operators fail alike.
VALIDATION: list[Case] = [
    _submit(
        "notebook_task_without_path",
        notebook_task={"base_parameters": {"a": "1"}},
    ),
    _submit(
        "two_task_types",
        notebook_task=NOTEBOOK,
        spark_jar_task=JAR,
    ),
    _submit(
        "tasks_and_top_level_task",
        tasks=TASKS,
        notebook_task=NOTEBOOK,
    ),
    _submit("task_without_task_key", tasks=[{"notebook_task": NOTEBOOK}]),
    _submit(
        "new_and_existing_cluster",
        notebook_task=NOTEBOOK,
        new_cluster=CLUSTER,
        existing_cluster_id="c",
    ),
    _submit("negative_timeout", notebook_task=NOTEBOOK, timeout_seconds=-5),
    _submit("timeout_not_a_number", notebook_task=NOTEBOOK, timeout_seconds="soon"),
    _submit("token_too_long", notebook_task=NOTEBOOK, idempotency_token="x" * 65),
    _submit(
        "run_name_too_long",
        notebook_task=NOTEBOOK,
        run_name="x" * 5000,
    ),
    _submit(
        "libraries_not_a_list",
        notebook_task=NOTEBOOK,
        libraries={"pypi": "x"},
    ),
    _run_now(
        "notebook_params_too_big",
        job_id=101,
        notebook_params={"a": "x" * 10_001},
    ),
    _run_now("job_id_not_a_number", job_id="nightly"),
    _run_now("run_now_token_too_long", job_id=101, idempotency_token="x" * 65),
]

# DatabricksCreateJobsOperator, in the style of TestDatabricksCreateJobsOperator (test_databricks.py).
JOB_TASKS = [
    {
        "task_key": "Sessionize",
        "description": "Extracts session data from events",
        "existing_cluster_id": "0923-164208-meows279",
        "spark_jar_task": {"main_class_name": "com.databricks.Sessionize", "parameters": ["--data", "x"]},
        "libraries": [{"jar": "dbfs:/mnt/databricks/Sessionize.jar"}],
        "timeout_seconds": 86400,
        "max_retries": 3,
        "min_retry_interval_millis": 2000,
        "retry_on_timeout": False,
    },
    {
        "task_key": "Match",
        "depends_on": [{"task_key": "Sessionize"}],
        "job_cluster_key": "auto_scaling_cluster",
        "notebook_task": {"notebook_path": "/Users/user.name@databricks.com/Match", "source": "WORKSPACE"},
    },
]
JOB_CLUSTERS = [
    {
        "job_cluster_key": "auto_scaling_cluster",
        "new_cluster": {
            "spark_version": "7.3.x-scala2.12",
            "node_type_id": "i3.xlarge",
            "spark_conf": {"spark.speculation": True},
            "autoscale": {"min_workers": 2, "max_workers": 16},
        },
    }
]
EMAIL = {"on_failure": ["user.name@databricks.com"], "no_alert_for_skipped_runs": False}
WEBHOOKS = {"on_start": [{"id": "03dd86e4-57ef-4818-a950-78e41a1d71ab"}]}
NOTIFICATIONS = {"no_alert_for_canceled_runs": True, "no_alert_for_skipped_runs": True}
SCHEDULE = {
    "quartz_cron_expression": "20 30 * * * ?",
    "timezone_id": "Europe/London",
    "pause_status": "PAUSED",
}
TRIGGER = {"pause_status": "UNPAUSED", "periodic": {"interval": 1, "unit": "DAYS"}}
TAGS = {"cost-center": "engineering", "team": "jobs"}
JOB = {"name": "parity-job", "tasks": JOB_TASKS, "job_clusters": JOB_CLUSTERS}

CREATE_JOBS: list[Case] = [
    _create_jobs(
        "named_parameters", name="parity-named", tasks=JOB_TASKS, job_clusters=JOB_CLUSTERS, tags=TAGS
    ),
    _create_jobs("json", json=JOB),
    _create_jobs(
        "exec_create_every_field",
        json={
            **JOB,
            "description": "a job",
            "tags": TAGS,
            "email_notifications": EMAIL,
            "webhook_notifications": WEBHOOKS,
            "notification_settings": NOTIFICATIONS,
            "timeout_seconds": 86400,
            "schedule": SCHEDULE,
            "max_concurrent_runs": 10,
            "git_source": GIT,
            "access_control_list": ACL,
        },
    ),
    _create_jobs("exec_reset_existing_name", json={**JOB, "name": "nightly"}),
    _create_jobs("exec_reset_with_acl", json={**JOB, "name": "nightly", "access_control_list": ACL}),
    _create_jobs("exec_reset_empty_acl", json={**JOB, "name": "nightly"}, access_control_list=[]),
    _create_jobs("reset_ambiguous_name", json={**JOB, "name": "twin"}),
    _create_jobs(
        "merging_named_wins",
        json={**JOB, "timeout_seconds": 10},
        name="parity-merged",
        timeout_seconds=0,
        max_concurrent_runs=0,
    ),
    _create_jobs(
        "every_named_parameter",
        name="parity-every",
        description="d",
        tags=TAGS,
        tasks=JOB_TASKS,
        job_clusters=JOB_CLUSTERS,
        environments=ENVIRONMENTS,
        email_notifications=EMAIL,
        webhook_notifications=WEBHOOKS,
        notification_settings=NOTIFICATIONS,
        timeout_seconds=600,
        schedule=SCHEDULE,
        trigger=TRIGGER,
        max_concurrent_runs=2,
        git_source=GIT,
        access_control_list=ACL,
        performance_target="PERFORMANCE_OPTIMIZED",
        databricks_conn_id="databricks_default",
        polling_period_seconds=5,
        databricks_retry_limit=2,
        databricks_retry_delay=0,
        databricks_retry_args={"reraise": True},
    ),
    _create_jobs("templated_name", render=True, json={"name": "test-{{ ds }}", "tasks": JOB_TASKS[:1]}),
    _create_jobs(
        "python_literal_json_and_templated_name",
        render=True,
        json=str({"name": "x", "tasks": JOB_TASKS[:1]}),
        name="templated-{{ ds }}",
    ),
    _create_jobs("params_become_parameters", json=JOB, params={"env": "prod", "region": "eu"}),
    # The official operator sends the raw value (100); the workspace refuses a number as a default.
    _create_jobs("params_number_default", json=JOB, params={"env": "prod", "batch_size": 100}),
    _create_jobs("params_reset_path", json={**JOB, "name": "nightly"}, params={"env": "prod"}),
    _create_jobs(
        "params_keep_parameters",
        json={**JOB, "parameters": [{"name": "p", "default": "1"}]},
        params={"env": "prod"},
    ),
    _create_jobs("params_all_none", json=JOB, params={"start_date_str": None}),
    _create_jobs("missing_name", json={"tasks": JOB_TASKS}),
    _create_jobs("bad_type", json={**JOB, "test": object()}),
]

# The repos operators, in the style of tests/unit/databricks/operators/test_databricks_repos.py.
GIT_URL = "https://github.com/test/test"
REPOS: list[Case] = [
    _repos_create("create", git_url=GIT_URL, repo_path="/Repos/Project1/test-repo"),
    _repos_create("create_plus_checkout", git_url=GIT_URL, repo_path="/Repos/Project1/co", branch="releases"),
    _repos_create("create_plus_tag", git_url=GIT_URL, repo_path="/Repos/Project1/tagged", tag="v1.0.0"),
    _repos_create("create_in_home_folder", git_url=GIT_URL),
    _repos_create(
        "create_explicit_provider",
        git_url="https://git.example.com/a/b",
        git_provider="gitHubEnterprise",
        repo_path="/Repos/Project1/b",
    ),
    _repos_create("create_provider_not_guessed", git_url="https://git.example.com/a/b"),
    _repos_create("create_existing_path", git_url=GIT_URL, repo_path="/Repos/team/seeded"),
    _repos_create(
        "create_ignore_existing_plus_checkout",
        git_url=GIT_URL,
        repo_path="/Repos/team/seeded",
        branch="releases",
        ignore_existing_repo=True,
    ),
    _repos_create("create_bad_repo_path", git_url=GIT_URL, repo_path="/Repos/test-repo"),
    _repos_create("create_branch_and_tag", git_url=GIT_URL, branch="1", tag="2"),
    _repos_create(
        "create_every_parameter",
        git_url="https://dev.azure.com/org/project/_git/repo",
        git_provider=None,
        branch=None,
        tag="v2",
        repo_path="/Repos/Project1/every",
        ignore_existing_repo=False,
        databricks_conn_id="databricks_default",
        databricks_retry_limit=2,
        databricks_retry_delay=0,
    ),
    _repos_update(
        "update_with_id",
        "Databricks answers a repo update with {}: the official operator then fails on the answer's "
        "head_commit_id (KeyError); ours reads the repo and returns the commit it is at",
        branch="releases",
        repo_id=SEEDED_REPO_ID,
    ),
    _repos_update(
        "update_with_path",
        "the same: the official operator fails on the update's empty answer, ours returns the commit",
        tag="v1.0.0",
        repo_path="/Repos/team/seeded",
    ),
    _repos_update("update_unknown_id", branch="releases", repo_id="123"),
    _repos_update("update_unknown_path", branch="releases", repo_path="/Repos/user@domain.com/test-repo"),
    _repos_update("update_id_and_path", repo_id="abc", repo_path="path", branch="abc"),
    _repos_update("update_no_repo", branch="abc"),
    _repos_update("update_branch_and_tag", repo_id="123", branch="123", tag="123"),
    _repos_update(
        "update_every_parameter",
        "the same: the official operator fails on the update's empty answer, ours returns the commit",
        branch="main",
        tag=None,
        repo_id=None,
        repo_path="/Repos/team/seeded",
        databricks_conn_id="databricks_default",
        databricks_retry_limit=2,
        databricks_retry_delay=0,
    ),
    _repos_delete("delete_with_id", repo_id=SEEDED_REPO_ID),
    _repos_delete("delete_with_path", repo_path="/Repos/team/seeded"),
    _repos_delete("delete_unknown_path", repo_path="/Repos/user@domain.com/test-repo"),
    _repos_delete("delete_id_and_path", repo_id="abc", repo_path="path"),
    _repos_delete("delete_nothing"),
    _repos_delete(
        "delete_every_parameter",
        repo_id=SEEDED_REPO_ID,
        repo_path=None,
        databricks_conn_id="databricks_default",
        databricks_retry_limit=2,
        databricks_retry_delay=0,
    ),
]

CASES: list[Case] = [
    *SUBMIT_SINGLE_TASKS,
    *SUBMIT_JSON,
    *SUBMIT_TASKS,
    *SUBMIT_PARAMS,
    *SUBMIT_TEMPLATED,
    *SUBMIT_OPENLINEAGE,
    *RUN_NOW,
    *RUN_NOW_PARAMS,
    *RUN_NOW_TEMPLATED,
    *RUN_NOW_REPAIR,
    *RUN_NOW_OPENLINEAGE,
    *VALIDATION,
    *CREATE_JOBS,
    *REPOS,
]
