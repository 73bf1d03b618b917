"""How many rows a query really reads from each table: EXPLAIN ANALYZE of the query on real rows, summed per table
over every scan node (rows returned plus rows a filter threw away, times the node's loops)."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from psycopg import sql


def rows_read(conn, query, params: Any = None) -> Counter:
    """Table name -> rows its scans read while ``query`` ran (the query runs, inside a rolled-back transaction)."""
    with conn.transaction(force_rollback=True):
        explain = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + (sql.SQL(query) if isinstance(query, str) else query)
        [[plan]] = conn.execute(explain, params).fetchall()
    return rows_in_plan(plan)


def rows_in_plan(plan) -> Counter:
    """Table name -> rows read, from the output of ``EXPLAIN (ANALYZE, FORMAT JSON)``."""
    plan = json.loads(plan) if isinstance(plan, str) else plan
    read: Counter = Counter()

    def walk(node: dict) -> None:
        if "Relation Name" in node:
            rows = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)
                    + node.get("Rows Removed by Index Recheck", 0))
            read[node["Relation Name"]] += rows * node.get("Actual Loops", 1)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return read
