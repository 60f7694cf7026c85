"""``JobsClient.sql`` over real HTTP against the emulator's Statement Execution and SQL Warehouses APIs.

Nothing sleeps: a test waits for a statement on the emulator's own "ended" event, and warehouse
transitions follow an injected clock that the test moves.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer

from airflow_dbx_async.client import (
    ApiError,
    ClientConfig,
    ConfigurationError,
    JobsClient,
    NotFound,
    RetryPolicy,
    ServerError,
    StatementOutcome,
    StatementState,
    TokenAuth,
    WarehouseState,
    borrow_workspace,
    judge_statement,
)
from airflow_dbx_async.client._ratelimit import RateLimiter
from airflow_dbx_async.emulator import DEFAULT_TOKEN, EmulatorConfig, EmulatorState, create_app
from airflow_dbx_async.emulator._warehouse_store import DEFAULT_WAREHOUSE_ID
from tests.fake_time import FakeTime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.asyncio
T0 = 1_700_000_000.0
WH = DEFAULT_WAREHOUSE_ID
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, budget_seconds=10.0)
COUNT_TO = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x FROM c"
FIVE_ROWS = f"SELECT x, 'r' || x AS s FROM ({COUNT_TO.format(n=5)})"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Emulator:
    def __init__(self, state: EmulatorState, clock: Clock, url: str) -> None:
        self.state = state
        self.clock = clock
        self.url = url

    def config(self) -> ClientConfig:
        return ClientConfig(base_url=self.url, auth=TokenAuth(DEFAULT_TOKEN), retry=FAST_RETRY)

    async def ended(self, statement_id: str) -> None:
        """Wait for the emulator to finish the statement (its own event; no polling, no sleep)."""
        await asyncio.wait_for(self.state.statements.statements[statement_id].done.wait(), 30)

    async def faults(self, **settings: object) -> None:
        """Replace the fault settings with ``POST /_emulator/faults``."""
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{self.url}/_emulator/faults", json=settings) as answer:
                assert answer.status == 200, await answer.text()

    def sql_requests(self) -> int:
        return sum(n for key, n in self.state.stats.requests.items() if "/api/2.0/sql/" in key)


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[Emulator]:
    clock = Clock()
    config = EmulatorConfig(simulate=True, warehouse_transition_seconds=10, sql_chunk_rows=2)
    state = EmulatorState(config, clock=clock)
    async with TestServer(create_app(config, state=state), host="127.0.0.1") as server:
        yield Emulator(state, clock, str(server.make_url("")).rstrip("/"))


@pytest_asyncio.fixture
async def client(emulator: Emulator) -> AsyncIterator[JobsClient]:
    async with JobsClient(emulator.config()) as c:
        yield c


async def test_execute_without_waiting_then_poll_to_succeeded(emulator: Emulator, client: JobsClient) -> None:
    submitted = await client.sql.execute_statement("SELECT 1 AS one, 'a' AS letter", WH)
    assert submitted.statement_id
    assert judge_statement(submitted.status).outcome is StatementOutcome.PENDING
    assert submitted.rows is None
    await emulator.ended(submitted.statement_id)
    polled = await client.sql.get_statement(submitted.statement_id)
    verdict = judge_statement(polled.status)
    assert (verdict.outcome, verdict.is_final) == (StatementOutcome.SUCCEEDED, True)
    assert polled.columns == ("one", "letter")
    assert (polled.total_row_count, polled.total_chunk_count) == (1, 1)
    assert polled.rows == (("1", "a"),)
    assert polled.next_chunk_index is None
    assert client.request_count == 2


async def test_result_chunks_are_followed_to_the_last(emulator: Emulator, client: JobsClient) -> None:
    statement = await client.sql.execute_statement(FIVE_ROWS, WH, wait_timeout="10s")
    assert statement.status.state is StatementState.SUCCEEDED
    assert (statement.total_row_count, statement.total_chunk_count) == (5, 3)
    rows = list(statement.rows or ())
    index = statement.next_chunk_index
    while index is not None:
        chunk = await client.sql.get_statement_result_chunk(statement.statement_id, index)
        assert chunk.chunk_index == index
        rows += chunk.rows or ()
        index = chunk.next_chunk_index
    assert rows == [(str(n), f"r{n}") for n in range(1, 6)]


async def test_parameters_catalog_schema_and_row_limit_reach_the_engine(client: JobsClient) -> None:
    await client.sql.execute_statement(
        "CREATE TABLE t (n INTEGER)", WH, catalog="cat", schema="sch", wait_timeout="10s"
    )
    insert = f"INSERT INTO t SELECT x FROM ({COUNT_TO.format(n=9)})"
    await client.sql.execute_statement(insert, WH, catalog="cat", schema="sch", wait_timeout="10s")
    statement = await client.sql.execute_statement(
        "SELECT n FROM t WHERE n >= :low ORDER BY n",
        WH,
        catalog="cat",
        schema="sch",
        parameters=[{"name": "low", "value": 4, "type": "INT"}],
        row_limit=3,
        query_tags={"team": "data"},
        wait_timeout="10s",
    )
    assert statement.status.state is StatementState.SUCCEEDED
    assert statement.truncated is True
    assert (statement.total_row_count, statement.rows) == (3, (("4",), ("5",)))  # chunks of 2 rows
    elsewhere = await client.sql.execute_statement("SELECT n FROM t", WH, wait_timeout="10s")
    assert elsewhere.status.state is StatementState.FAILED  # main.default has no table t
    assert elsewhere.status.sql_state == "42P01"


async def test_a_syntax_error_fails_with_the_engine_message(emulator: Emulator, client: JobsClient) -> None:
    submitted = await client.sql.execute_statement("SELEC 1", WH)
    await emulator.ended(submitted.statement_id)
    status = (await client.sql.get_statement(submitted.statement_id)).status
    assert (status.state, status.error_code, status.sql_state) == (
        StatementState.FAILED,
        "BAD_REQUEST",
        "42601",
    )
    assert 'near "SELEC": syntax error' in status.error_message
    verdict = judge_statement(status)
    assert verdict.outcome is StatementOutcome.FAILED
    assert 'near "SELEC": syntax error' in verdict.reason


async def test_cancel_of_a_slow_statement_reaches_canceled(emulator: Emulator, client: JobsClient) -> None:
    submitted = await client.sql.execute_statement("SELECT sleep_ms(600000)", WH)
    assert submitted.status.state in (StatementState.PENDING, StatementState.RUNNING)
    await client.sql.cancel_statement(submitted.statement_id)
    await emulator.ended(submitted.statement_id)
    status = (await client.sql.get_statement(submitted.statement_id)).status
    assert status.state is StatementState.CANCELED
    assert judge_statement(status).outcome is StatementOutcome.CANCELED


async def test_warehouse_stop_and_start_reach_stopped_and_running(
    emulator: Emulator, client: JobsClient
) -> None:
    [listed] = await client.sql.list_warehouses()
    assert (listed.id, listed.name, listed.state) == (WH, "Emulator Warehouse", WarehouseState.RUNNING)
    assert (listed.num_clusters, listed.health_status) == (1, "HEALTHY")
    await client.sql.stop_warehouse(WH)
    assert (await client.sql.get_warehouse(WH)).state is WarehouseState.STOPPING
    emulator.clock.now += 10
    stopped = await client.sql.get_warehouse(WH)
    assert (stopped.state, stopped.num_clusters) == (WarehouseState.STOPPED, 0)
    await client.sql.start_warehouse(WH)
    assert (await client.sql.get_warehouse(WH)).state is WarehouseState.STARTING
    emulator.clock.now += 10
    assert (await client.sql.get_warehouse(WH)).state is WarehouseState.RUNNING


async def test_a_statement_on_a_stopped_warehouse_waits_for_it(
    emulator: Emulator, client: JobsClient
) -> None:
    await client.sql.stop_warehouse(WH)
    emulator.clock.now += 10
    submitted = await client.sql.execute_statement("SELECT 1", WH)
    assert submitted.status.state is StatementState.PENDING
    assert (await client.sql.get_warehouse(WH)).state is WarehouseState.STARTING  # the submit started it
    emulator.clock.now += 10
    await emulator.ended(submitted.statement_id)
    assert (await client.sql.get_statement(submitted.statement_id)).status.state is StatementState.SUCCEEDED


async def test_a_400_is_an_api_error_with_its_error_code_and_is_not_retried(client: JobsClient) -> None:
    with pytest.raises(ApiError) as info:
        await client.sql.execute_statement(
            "SELECT :n", WH, parameters=[{"name": "n", "value": "abc", "type": "INT"}]
        )
    error = info.value
    assert type(error) is ApiError
    assert (error.status, error.error_code) == (400, "INVALID_PARAMETER_VALUE")
    assert "parameters[0].value" in error.message
    assert (error.method, error.path) == ("POST", "/api/2.0/sql/statements")
    assert client.request_count == 1


async def test_unknown_ids_are_not_found(client: JobsClient) -> None:
    with pytest.raises(NotFound) as on_submit:
        await client.sql.execute_statement("SELECT 1", "0000000000000000")
    assert (on_submit.value.status, on_submit.value.error_code) == (400, "INVALID_PARAMETER_VALUE")
    with pytest.raises(NotFound) as on_get:
        await client.sql.get_statement("00000000-0000-0000-0000-000000000000")
    assert (on_get.value.status, on_get.value.error_code) == (404, "RESOURCE_DOES_NOT_EXIST")
    with pytest.raises(NotFound):
        await client.sql.get_warehouse("0000000000000000")
    assert client.request_count == 3


async def test_a_chunk_past_the_last_is_a_400(client: JobsClient) -> None:
    statement = await client.sql.execute_statement("SELECT 1", WH, wait_timeout="10s")
    with pytest.raises(ApiError) as info:
        await client.sql.get_statement_result_chunk(statement.statement_id, 5)
    assert (info.value.status, info.value.error_code) == (400, "INVALID_PARAMETER_VALUE")
    assert "chunk_index" in info.value.message


async def test_bad_input_sends_no_request(emulator: Emulator, client: JobsClient) -> None:
    with pytest.raises(ConfigurationError) as info:
        await client.sql.execute_statement("SELECT 1", WH, wait_timeout="3s")
    assert info.value.field == "wait_timeout"
    assert str(info.value) == "wait_timeout: must be '0s' or '5s' to '50s', got '3s'"
    with pytest.raises(ConfigurationError, match="^statement: "):
        await client.sql.execute_statement("  ", WH)
    with pytest.raises(ConfigurationError, match="^chunk_index: "):
        await client.sql.get_statement_result_chunk("s", -1)
    assert client.request_count == 0
    assert emulator.sql_requests() == 0


async def test_a_503_on_execute_is_retried_through_the_transport(
    emulator: Emulator, client: JobsClient, no_sleep: list[float]
) -> None:
    # Seed 4 at rate 0.5: the first statement request is answered 503 (Retry-After: 1), the next is not.
    await emulator.faults(rate=0.5, kinds=["503"], seed=4, paths=["/sql/statements"])
    statement = await client.sql.execute_statement("SELECT 1", WH, wait_timeout="10s")
    assert statement.status.state is StatementState.SUCCEEDED
    assert dict(emulator.state.stats.faults) == {"503": 1}
    assert client.request_count == 2
    assert no_sleep == [1.0]  # never sooner than the Retry-After
    assert len(emulator.state.statements.statements) == 1  # one statement, not two


async def test_a_500_on_execute_is_not_repeated(emulator: Emulator, client: JobsClient) -> None:
    await emulator.faults(rate=1.0, kinds=["500"], paths=["/sql/statements"])
    with pytest.raises(ServerError) as info:
        await client.sql.execute_statement("SELECT 1", WH)
    assert (info.value.status, info.value.error_code) == (500, "INTERNAL_ERROR")
    assert client.request_count == 1  # the statement may exist: running it twice would be worse


async def test_a_retry_after_on_a_sql_call_holds_the_whole_workspace(
    emulator: Emulator, no_sleep: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    time = FakeTime()
    limiter = RateLimiter(None, clock=time.clock, sleep=time.sleep)
    await emulator.faults(rate=0.5, kinds=["503"], seed=4, paths=["/sql/warehouses"])
    with caplog.at_level(logging.WARNING, logger="airflow_dbx_async.client._ratelimit"):
        async with JobsClient(emulator.config(), limiter=limiter) as client:
            warehouse = await client.sql.get_warehouse(WH)
    assert warehouse.state is WarehouseState.RUNNING
    assert limiter.hold_episodes == 1
    assert limiter.waited_seconds == 1.0  # the retry waited at the workspace's gate
    [held] = [r.getMessage() for r in caplog.records if "holding every request" in r.getMessage()]
    assert f"503 on GET /api/2.0/sql/warehouses/{WH}" in held


async def test_a_borrowed_client_sends_sql_through_the_shared_transport(emulator: Emulator) -> None:
    async with borrow_workspace(emulator.config()) as borrowed:
        before = borrowed.shared.transport.request_count
        await borrowed.client.sql.get_warehouse(WH)
        assert borrowed.shared.transport.request_count == before + 1
        assert borrowed.client.request_count == before + 1


async def test_a_closed_client_refuses_sql_calls(emulator: Emulator) -> None:
    async with JobsClient(emulator.config()) as client:
        sql = client.sql
    with pytest.raises(RuntimeError, match="JobsClient is closed"):
        await sql.get_warehouse(WH)
    assert emulator.sql_requests() == 0
