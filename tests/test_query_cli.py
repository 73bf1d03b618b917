"""`python -m cryptoflow query` (and `bin/cryptoflow`) against real warehouse rows: tables and CSV exactly as printed,
half-open ranges, symbol resolution, and clear errors with exit code 2 (1 when the warehouse is unreachable) that
never show the DSN's password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOL = "So11111111111111111111111111111111111111112"
BONK = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"
TWIN_A = "TwinAaaa1111111111111111111111111111111pump"
TWIN_B = "TwinBbbb1111111111111111111111111111111pump"
DUP_WITH_CANDLES = "DupWithCandles11111111111111111111111111pump"
DUP_WITHOUT = "DupWithoutCandles111111111111111111111111pump"
UNLISTED = "Unlisted11111111111111111111111111111111pump"   # candles, but in neither tokens nor watchlist


def cli(*args: str, env: dict | None = None, via_wrapper: bool = False) -> subprocess.CompletedProcess:
    command = [str(ROOT / "bin" / "cryptoflow")] if via_wrapper else [sys.executable, "-m", "cryptoflow"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")} if env is None else env
    return subprocess.run([*command, "query", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


@pytest.fixture
def metrics(warehouse):
    rows = [
        ("defillama", "ethereum", "tvl", "2026-11-19T23:59:59Z", Decimal("61000000000.5")),
        ("defillama", "ethereum", "tvl", "2026-11-20T00:00:00Z", Decimal("61234567890.25")),
        ("defillama", "ethereum", "tvl", "2026-11-20T12:00:00Z", Decimal("61300000000")),
        ("defillama", "ethereum", "tvl", "2026-11-21T00:00:00Z", Decimal("62000000000")),
        ("defillama", "ethereum", "fees", "2026-11-20T00:00:00Z", Decimal("1234.5")),
        ("defillama", "solana", "tvl", "2026-11-20T00:00:00Z", Decimal("9000000000")),
        ("artemis", "sol", "PRICE", "2026-11-20T00:00:00Z", Decimal("142.17")),
        ("artemis", "eth", "PRICE", "2026-11-20T00:00:00Z", Decimal("3050.1")),
    ]
    with warehouse.cursor() as cur:
        cur.executemany("INSERT INTO metrics (source, asset, metric, ts, value) VALUES (%s, %s, %s, %s, %s)", rows)
    return warehouse


@pytest.fixture
def candles(warehouse):
    warehouse.execute("""INSERT INTO watchlist (address, symbol, name) VALUES (%s, 'SOL', 'Wrapped SOL'),
                                                                              (%s, 'Bonk', 'Bonk')""", (SOL, BONK))
    with warehouse.cursor() as cur:
        cur.executemany("INSERT INTO tokens (mint, symbol, name) VALUES (%s, %s, %s)", [
            (TWIN_A, "TWIN", "Twin A"), (TWIN_B, "TWIN", "Twin B"),
            (DUP_WITH_CANDLES, "DUP", "Dup with candles"), (DUP_WITHOUT, "DUP", "Dup without candles")])
        candle = """INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close, volume,
                                         volume_quote, volume_usd, vwap, trade_count)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"""
        cur.executemany(candle, [
            ("birdeye", SOL, "1h", "2026-11-20T09:00Z", "140.1", "141", "139.5", "140.7", "1200.5", None, None, None,
             None),
            ("birdeye", SOL, "1h", "2026-11-20T10:00Z", "140.7", "142.25", "140.7", "142", "980", None, "139000.12",
             None, None),
            ("birdeye", SOL, "1h", "2026-11-20T11:00Z", "142", "142", "141", "141.5", "10", None, None, None, None),
            ("birdeye", SOL, "5m", "2026-11-20T10:00Z", "140.7", "140.9", "140.6", "140.8", "80", None, None, None,
             None),
            ("trades", SOL, "1h", "2026-11-20T10:00Z", "1", "1", "1", "1", "5", "5", None, "1", 3),
            ("trades", TWIN_A, "1h", "2026-11-20T10:00Z", "0.1", "0.1", "0.1", "0.1", "1", "0.1", None, "0.1", 1),
            ("trades", TWIN_B, "1h", "2026-11-20T10:00Z", "0.2", "0.2", "0.2", "0.2", "1", "0.2", None, "0.2", 1),
            ("trades", DUP_WITH_CANDLES, "1m", "2026-11-20T10:00Z", "0.000000028", "0.00000003", "0.000000027",
             "0.000000029", "1000000", "0.0285", None, "0.0000000285", 2),
            ("trades", UNLISTED, "5m", "2026-11-20T10:05Z", "2", "2", "2", "2", "1", "2", None, "2", 1),
        ])
    return warehouse


# --- metrics ------------------------------------------------------------------------------------------------------

def test_metrics_table_is_aligned_and_the_range_is_half_open(metrics):
    result = cli("metrics", "--source", "defillama", "--asset", "ethereum", "--metric", "tvl",
                 "--from", "2026-11-20", "--to", "2026-11-21")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "source     asset     metric  ts                                  value\n"
        "---------  --------  ------  -------------------------  --------------\n"
        "defillama  ethereum  tvl     2026-11-20T00:00:00+00:00  61234567890.25\n"
        "defillama  ethereum  tvl     2026-11-20T12:00:00+00:00     61300000000\n"
    )
    assert result.stderr == "(2 rows)\n"


def test_metrics_csv_to_stdout_and_to_a_file(metrics, tmp_path):
    result = cli("metrics", "--metric", "PRICE", "--csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ("source,asset,metric,ts,value\n"
                             "artemis,eth,PRICE,2026-11-20T00:00:00+00:00,3050.1\n"
                             "artemis,sol,PRICE,2026-11-20T00:00:00+00:00,142.17\n")

    target = tmp_path / "tvl.csv"
    result = cli("metrics", "--asset", "ethereum", "--metric", "tvl", "--from", "2026-11-20T12:00",
                 "--csv", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"wrote 2 rows to {target}\n"
    assert target.read_text() == ("source,asset,metric,ts,value\n"
                                  "defillama,ethereum,tvl,2026-11-20T12:00:00+00:00,61300000000\n"
                                  "defillama,ethereum,tvl,2026-11-21T00:00:00+00:00,62000000000\n")
    assert [p.name for p in tmp_path.iterdir()] == ["tvl.csv"]   # no partial file left behind


def test_metrics_time_zones_and_limit(metrics):
    # 2026-11-20T01:00+01:00 is midnight UTC, included; the end is excluded
    result = cli("metrics", "--asset", "ethereum", "--metric", "tvl", "--from", "2026-11-20T01:00:00+01:00",
                 "--to", "2026-11-20T12:00:00Z", "--csv")
    assert result.stdout.splitlines()[1:] == ["defillama,ethereum,tvl,2026-11-20T00:00:00+00:00,61234567890.25"]

    result = cli("metrics", "--source", "defillama", "--limit", "2")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 2 + 2
    assert "first 2 rows; more match" in result.stderr


def test_an_empty_result_says_so(metrics):
    result = cli("metrics", "--source", "defillama", "--asset", "ethereum", "--metric", "tvl",
                 "--from", "2026-11-22", "--to", "2026-11-23")
    assert (result.returncode, result.stdout) == (0, "")
    assert result.stderr == ("no metrics match source=defillama asset=ethereum metric=tvl in "
                             "[2026-11-22T00:00:00+00:00, 2026-11-23T00:00:00+00:00)\n")
    result = cli("metrics", "--asset", "solana", "--metric", "fees", "--csv")
    assert (result.returncode, result.stdout) == (0, "source,asset,metric,ts,value\n")
    assert result.stderr == "no metrics match asset=solana metric=fees at any time\n"


@pytest.mark.parametrize(("args", "message"), [
    (["--source", "defilama"], "unknown source 'defilama' in metrics; valid sources: artemis, defillama "
                               "(did you mean defillama?)"),
    (["--asset", "etherium"], "unknown asset 'etherium'; valid assets: eth, ethereum, sol, solana "
                              "(did you mean ethereum?)"),
    (["--source", "defillama", "--asset", "sol"], "asset 'sol' has no metrics from source 'defillama'; it has "
                                                  "metrics from artemis"),
    (["--metric", "TVL"], "unknown metric 'TVL'; valid metrics: PRICE, fees, tvl (did you mean tvl?)"),
    (["--from", "2026-13-01"], "--from '2026-13-01' is not a date or time: use YYYY-MM-DD"),
    (["--to", "yesterday"], "--to 'yesterday' is not a date or time"),
    (["--from", "2026-11-21", "--to", "2026-11-20"], "--from 2026-11-21 is not before --to 2026-11-20: the range "
                                                     "is [from, to)"),
])
def test_metrics_errors_name_the_problem_and_the_choices(metrics, args, message):
    result = cli("metrics", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("cryptoflow query: error: ")
    assert message in result.stderr


def test_many_assets_get_the_closest_matches(warehouse):
    with warehouse.cursor() as cur:
        cur.executemany("INSERT INTO metrics (source, asset, metric, ts, value) VALUES ('defillama', %s, 'tvl', "
                        "'2026-11-20', 1)", [(f"protocol-{i:03d}",) for i in range(40)] + [("uniswap-v3",)])
    result = cli("metrics", "--asset", "uniswap")
    assert result.returncode == 2
    assert "unknown asset 'uniswap'; closest of the 41 assets: uniswap-v3" in result.stderr
    assert "none of the 41 assets is close" in cli("metrics", "--asset", "zzzzzz").stderr


# --- candles ------------------------------------------------------------------------------------------------------

def test_candles_by_watchlist_symbol_as_a_table(candles):
    result = cli("candles", "--token", "sol", "--interval", "1H", "--from", "2026-11-20T10:00", "--to",
                 "2026-11-20T11:00")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        # numeric columns are right-aligned, their headers too
        "source   bucket_start                open    high    low  close  volume  volume_quote  volume_usd  vwap  "
        "trade_count\n"
        "-------  -------------------------  -----  ------  -----  -----  ------  ------------  ----------  ----  "
        "-----------\n"
        "birdeye  2026-11-20T10:00:00+00:00  140.7  142.25  140.7    142     980                 139000.12\n"
        "trades   2026-11-20T10:00:00+00:00      1       1      1      1       5             5                 1  "
        "          3\n"
    )
    assert result.stderr == f"token sol is SOL ({SOL})\n(2 rows)\n"


def test_candles_csv_has_every_column(candles):
    result = cli("candles", "--token", SOL, "--interval", "1h", "--source", "birdeye", "--from", "2026-11-20",
                 "--csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "source,token,interval,bucket_start,open,high,low,close,volume,volume_quote,volume_usd,vwap,trade_count\n"
        f"birdeye,{SOL},1h,2026-11-20T09:00:00+00:00,140.1,141,139.5,140.7,1200.5,,,,\n"
        f"birdeye,{SOL},1h,2026-11-20T10:00:00+00:00,140.7,142.25,140.7,142,980,,139000.12,,\n"
        f"birdeye,{SOL},1h,2026-11-20T11:00:00+00:00,142,142,141,141.5,10,,,,\n"
    )
    assert result.stderr == ""


def test_candles_tokens_by_mint_or_unambiguous_symbol(candles):
    # two tokens are called DUP, only one has candles; tiny prices print without an exponent
    result = cli("candles", "--token", "DUP", "--interval", "1m", "--csv")
    assert result.stdout.splitlines()[1:] == [
        f"trades,{DUP_WITH_CANDLES},1m,2026-11-20T10:00:00+00:00,0.000000028,0.00000003,0.000000027,0.000000029,"
        "1000000,0.0285,,0.0000000285,2"]
    assert result.stderr == f"token DUP is DUP ({DUP_WITH_CANDLES})\n"
    result = cli("candles", "--token", UNLISTED, "--interval", "5m", "--csv")
    assert result.stdout.splitlines()[1:] == [f"trades,{UNLISTED},5m,2026-11-20T10:05:00+00:00,2,2,2,2,1,2,,2,1"]
    assert cli("candles", "--token", "bonk", "--interval", "1h").stderr == (
        f"token bonk is Bonk ({BONK})\nno 1h candles of Bonk ({BONK}) from trades or birdeye at any time\n")


@pytest.mark.parametrize(("args", "message"), [
    (["--token", "TWIN", "--interval", "1h"],
     f"symbol 'TWIN' names 2 tokens: {TWIN_A} (Twin A); {TWIN_B} (Twin B); pass the mint with --token"),
    (["--token", "SOLL", "--interval", "1h"],
     f"unknown token 'SOLL': not a mint or symbol of the watchlist, the tokens table or the candles; closest: "
     f"SOL ({SOL})"),
    (["--token", "zzz", "--interval", "1h"], "unknown token 'zzz': not a mint or symbol of the watchlist, the tokens "
                                             "table or the candles; known symbols: Bonk, DUP, SOL, TWIN\n"),
    (["--token", "SOL", "--interval", "2d"], "unknown interval '2d'; candles are stored at 1m, 3m, 5m, 15m, 30m, "
                                             "1h, 2h, 4h, 6h, 8h, 12h, 24h"),
    (["--token", "SOL", "--interval", "1M"], "unknown interval '1M'"),
    (["--token", "SOL", "--interval", "15m", "--source", "trades"],
     "source 'trades' has no 15m candles: it derives 1m, 5m, 1h, 6h, 24h"),
    (["--token", "SOL", "--interval", "1h", "--source", "coingecko"],
     "unknown candle source 'coingecko'; choose trades or birdeye"),
    (["--token", "SOL", "--interval", "1h", "--from", "2026-11-20", "--to", "2026-11-19"],
     "--from 2026-11-20 is not before --to 2026-11-19"),
])
def test_candles_errors_name_the_problem_and_the_choices(candles, args, message):
    result = cli("candles", *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert message in result.stderr


def test_candle_intervals_match_what_the_sources_store():
    from cryptoflow import query
    from cryptoflow.candles.refresh import INTERVALS
    from cryptoflow.sources.birdeye.models import TIMEFRAMES

    assert query.BIRDEYE_INTERVALS == tuple(TIMEFRAMES)
    assert set(query.ALL_INTERVALS) == set(TIMEFRAMES) | set(INTERVALS)
    assert query.normalize_interval("1d") == "24h" and query.normalize_interval("6H") == "6h"


# --- the connection -----------------------------------------------------------------------------------------------

def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("WAREHOUSE_DSN", "AIRFLOW_CONN_WAREHOUSE", "AIRFLOW_HOME", "CRYPTOFLOW_LOCAL")
           and not k.startswith("AIRFLOW__")}
    return {**env, "PYTHONPATH": str(ROOT / "plugins"), **extra}


def project_with_local_env(tmp_path: Path, lines: str | None) -> Path:
    """A clone after `make run` (include/ and the .local/airflow.env it wrote), or before (``lines`` None)."""
    root = tmp_path / "clone"
    (root / ".local").mkdir(parents=True)
    (root / "include").symlink_to(ROOT / "include")
    if lines is not None:
        (root / ".local" / "airflow.env").write_text(lines)
    return root


def test_dsn_from_what_make_run_wrote(metrics, warehouse_dsn, tmp_path):
    root = project_with_local_env(tmp_path, f"export AIRFLOW_HOME=/x\nexport WAREHOUSE_DSN='{warehouse_dsn}'\n")
    result = cli("metrics", "--asset", "sol", "--csv", env=clean_env(CRYPTOFLOW_HOME=str(root)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["artemis,sol,PRICE,2026-11-20T00:00:00+00:00,142.17"]


def test_dsn_from_an_airflow_connection_in_json_form(metrics, pg_cluster, tmp_path):
    conn = json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": pg_cluster.port,
                       "login": pg_cluster.user, "schema": "warehouse"})
    root = project_with_local_env(tmp_path, None)
    result = cli("metrics", "--asset", "sol", "--csv", env=clean_env(AIRFLOW_CONN_WAREHOUSE=conn,
                                                                      CRYPTOFLOW_HOME=str(root)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["artemis,sol,PRICE,2026-11-20T00:00:00+00:00,142.17"]


def test_no_connection_anywhere_says_what_to_do(tmp_path):
    result = cli("metrics", env=clean_env(CRYPTOFLOW_HOME=str(tmp_path)))
    assert result.returncode == 1
    assert "no warehouse connection found: start the local setup with `make run`, or pass --dsn" in result.stderr


@pytest.mark.parametrize("dsn", [
    "postgresql://reader:s3cret-Passw0rd@127.0.0.1:1/warehouse",
    "host=127.0.0.1 port=1 user=reader password=s3cret-Passw0rd dbname=warehouse",
    "host=127.0.0.1 port=1 password=s3cret-Passw0rd no_such_option=1",
])
def test_connection_errors_never_show_the_password(dsn):
    result = cli("metrics", "--dsn", dsn)
    assert result.returncode == 1
    assert "s3cret-Passw0rd" not in result.stdout + result.stderr
    assert "cryptoflow query: error: cannot connect to the warehouse" in result.stderr
    if "user=" in dsn or "://" in dsn:
        assert "reader@127.0.0.1:1/warehouse (from --dsn)" in result.stderr


def test_a_database_without_the_migrations(pg_cluster):
    result = cli("metrics", "--dsn", pg_cluster.dsn("postgres"))
    assert result.returncode == 1
    assert "is not migrated" in result.stderr and "run `make migrate`" in result.stderr


def test_the_wrapper_script_and_the_package_entry_point(metrics):
    result = cli("metrics", "--source", "artemis", "--csv", via_wrapper=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["source,asset,metric,ts,value",
                                          "artemis,eth,PRICE,2026-11-20T00:00:00+00:00,3050.1",
                                          "artemis,sol,PRICE,2026-11-20T00:00:00+00:00,142.17"]
    top = subprocess.run([str(ROOT / "bin" / "cryptoflow"), "frobnicate"], capture_output=True, text=True)
    assert top.returncode == 2 and "unknown command 'frobnicate'; choose query, candles, migrate" in top.stderr


def test_dsn_redaction_of_any_text():
    from cryptoflow.query import Dsn

    uri = Dsn("postgresql://reader:s3cret-Passw0rd@db.internal:6432/warehouse", "--dsn")
    text = uri.redact(f"could not use {uri.value}; later password=s3cret-Passw0rd and s3cret-Passw0rd")
    assert "s3cret-Passw0rd" not in text and "reader@db.internal:6432/warehouse" in text
    keywords = Dsn("host=db.internal password='s3cret Passw0rd' dbname=warehouse", "$WAREHOUSE_DSN")
    assert "s3cret Passw0rd" not in keywords.redact("failed: s3cret Passw0rd")
    assert keywords.describe() == "db.internal/warehouse"
