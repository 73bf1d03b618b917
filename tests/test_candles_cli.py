"""`bin/cryptoflow candles rebuild`: re-derives a range from trades, finding the warehouse where `make run` left it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.candles_support import START, TradeFactory, assert_matches_pandas, insert_trades

ROOT = Path(__file__).resolve().parents[1]


def candles_cli(*args: str, local: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WAREHOUSE_DSN", "AIRFLOW_CONN_WAREHOUSE", "AIRFLOW_HOME") and not k.startswith("AIRFLOW__")}
    return subprocess.run([str(ROOT / "bin" / "cryptoflow"), "candles", *args], capture_output=True, text=True,
                          env={**env, "CRYPTOFLOW_LOCAL": str(local)}, timeout=120)


def test_rebuild_of_a_range_from_the_command_line(warehouse, warehouse_dsn, tmp_path):
    insert_trades(warehouse, TradeFactory(seed=11).batch(300))
    warehouse.execute("TRUNCATE candles_dirty")   # as if no refresh were pending: only the rebuild makes candles
    warehouse.commit()
    (tmp_path / "airflow.env").write_text(f"export WAREHOUSE_DSN='{warehouse_dsn}'\n")   # what `make run` writes

    result = candles_cli("rebuild", "--from", START.isoformat(), "--to", "2026-12-01", local=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["mode"] == "range" and summary["written"]["1m"] > 50
    assert assert_matches_pandas(warehouse) == sum(summary["written"].values())

    again = json.loads(candles_cli("rebuild", "--all", local=tmp_path).stdout)
    assert sum(again["written"].values()) == 0 and sum(again["deleted"].values()) == 0


def test_rebuild_without_a_warehouse_or_a_range_says_what_to_do(tmp_path, warehouse_dsn):
    missing = candles_cli("rebuild", "--all", local=tmp_path)
    assert missing.returncode == 1 and "no warehouse connection found" in missing.stderr
    (tmp_path / "airflow.env").write_text(f"export WAREHOUSE_DSN='{warehouse_dsn}'\n")
    no_range = candles_cli("rebuild", "--from", "2026-11-20", local=tmp_path)
    assert no_range.returncode == 2 and "rebuild needs --from and --to, or --all" in no_range.stderr
