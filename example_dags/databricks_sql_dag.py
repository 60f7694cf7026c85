"""SQL on a Databricks SQL warehouse, waited for in the triggerer: start, load, query, one failing query.

``start_warehouse`` waits (deferred) until the warehouse is ``RUNNING``. ``load_orders`` and
``count_orders`` run statements through the Statement Execution API and push ``statement_id`` to XCom,
as the official operator does. ``misspelt_column`` fails on purpose: its task log shows the statement
id, the warehouse, Databricks' error code and message, the SQL with the failing line marked, and the
states the statement went through; the task fails with one line.

Set the ``DATABRICKS_WAREHOUSE_ID`` environment variable to the warehouse to use (the emulator's
default warehouse otherwise).
"""

from __future__ import annotations

import os

from airflow.sdk import DAG

from airflow_dbx_async.operators import DatabricksSQLStatementsOperator, DatabricksStartWarehouseOperator

__all__ = ("dag",)

WAREHOUSE_ID = os.environ.get("DATABRICKS_WAREHOUSE_ID", "d0e1f2a3b4c5d6e7")

with DAG(dag_id="databricks_sql_dag", schedule=None, catchup=False, tags=["databricks", "sql"]) as dag:
    start_warehouse = DatabricksStartWarehouseOperator(
        task_id="start_warehouse", databricks_conn_id="databricks", warehouse_id=WAREHOUSE_ID
    )
    load_orders = DatabricksSQLStatementsOperator(
        task_id="load_orders",
        databricks_conn_id="databricks",
        warehouse_id=WAREHOUSE_ID,
        statement=(
            "CREATE TABLE IF NOT EXISTS orders AS "
            "SELECT 1 AS id, 'widget' AS item, 3 AS qty UNION ALL SELECT 2, 'gadget', 5"
        ),
    )
    count_orders = DatabricksSQLStatementsOperator(
        task_id="count_orders",
        databricks_conn_id="databricks",
        warehouse_id=WAREHOUSE_ID,
        statement="SELECT count(*) AS orders, sum(qty) AS items FROM orders WHERE qty >= :min_qty",
        parameters=[{"name": "min_qty", "value": "1", "type": "INT"}],
    )
    misspelt_column = DatabricksSQLStatementsOperator(
        task_id="misspelt_column",
        databricks_conn_id="databricks",
        warehouse_id=WAREHOUSE_ID,
        statement="SELECT id,\n       itme\nFROM orders",
        retries=0,
    )
    start_warehouse >> load_orders >> [count_orders, misspelt_column]
