"""The Data health page, served by Airflow's own API server app (plugins loaded from plugins/, the simple auth
manager's real login), reading real rows from the test warehouse."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from cryptoflow.health import svg
from cryptoflow.local_postgres import free_port

SOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
PAGE = "/data-health/"


@pytest.fixture(scope="module")
def api(airflow_db):
    """A TestClient on Airflow's API server app, and a JWT of the simple auth manager's admin."""
    from airflow.api_fastapi.app import create_app, purge_cached_app
    from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
    from fastapi.testclient import TestClient

    app = create_app(apps="core")
    with TestClient(app) as client:
        password = SimpleAuthManager.get_passwords()["admin"]
        answer = client.post("/auth/token", json={"username": "admin", "password": password})
        assert answer.status_code == 201, answer.text
        yield client, answer.json()["access_token"]
    purge_cached_app()


def get_page(api, query: str = "", **kwargs):
    client, token = api
    client.cookies.set("_token", token)   # what the UI's iframe sends
    try:
        return client.get(PAGE + query, **kwargs)
    finally:
        client.cookies.clear()


def text_of(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", " ", html))


def section(html: str, anchor: str) -> str:
    """The HTML from <h2 id=anchor> to the next <h2>."""
    start = html.index(f'<h2 id="{anchor}"')
    end = html.find("<h2 ", start + 1)
    return html[start:end if end > 0 else None]


def seed(conn) -> dict:
    """Runs of two sources in the last hour, candles, the watchlist, a rejected record, metrics."""
    now = conn.execute("SELECT date_bin('5 minutes', now(), '2000-01-01') - interval '30 minutes'").fetchone()[0]
    pulls = [
        # source, dataset, started, interval end, status, fetched, calls, errors, p50, p95, p99
        ("birdeye", "ohlcv", now, now, "success", 120, 10, 1, 80.0, 150.0, 210.0),
        ("birdeye", "ohlcv", now + timedelta(minutes=5), now + timedelta(minutes=5), "success", 60, 4, 0,
         70.0, 90.0, 95.0),
        ("birdeye", "ohlcv", now + timedelta(minutes=10), now + timedelta(minutes=10), "failed", 0, 3, 3,
         400.0, 900.0, 1200.0),
        ("defillama", "fees", now + timedelta(minutes=1), now, "success", 500, 0, 0, None, None, None),
    ]
    for source, dataset, started, end, status, fetched, calls, errors, p50, p95, p99 in pulls:
        conn.execute(
            """INSERT INTO pulls (dag_id, task_id, run_id, source, dataset, interval_start, interval_end, status,
                                  started_at, finished_at, records_fetched, records_upserted, api_calls,
                                  http_errors, cache_hits, latency_p50_ms, latency_p95_ms, latency_p99_ms, error,
                                  stale_after)
               VALUES (%s, %s, 'backfill__x', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                       interval '15 minutes')""",
            (f"{source}_dag", f"ingest_{dataset}", source, dataset, end - timedelta(minutes=5), end, status, started,
             started + timedelta(seconds=9), fetched, fetched, calls, errors, 0 if calls else 7, p50, p95, p99,
             "ApiUnavailable: HTTP 503 from birdeye" if status == "failed" else None))
    conn.execute("INSERT INTO watchlist (address, symbol) VALUES (%s, 'SOL'), (%s, 'USDC')", (SOL, USDC))
    candle_starts = [now - timedelta(minutes=m) for m in range(3, 0, -1)]
    for i, start in enumerate(candle_starts):
        conn.execute(
            """INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close, volume, volume_usd)
               VALUES ('birdeye', %s, '1m', %s, %s, %s, %s, %s, 10, 1500)""",
            (SOL, start, 150 + i, 152 + i, 149 + i, 151.5 + i))
    conn.execute("""INSERT INTO rejected_records (source, dataset, interval_start, interval_end, reason, record)
                    VALUES ('birdeye', 'ohlcv', %s, %s, 'high below low: fix the candle', '{"o": 1, "h": 0.5}')""",
                 (now - timedelta(minutes=5), now))
    conn.execute("INSERT INTO metrics (source, asset, metric, ts, value) VALUES ('defillama', 'x', 'FEES_24H', %s, 1)",
                 (now - timedelta(hours=2),))
    return {"t0": now, "candle_starts": candle_starts}


def test_plugin_is_registered_with_a_nav_entry(api):
    client, token = api
    answer = client.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    [plugin] = [p for p in answer.json()["plugins"] if p["name"] == "cryptoflow_data_health"]
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/data-health"]
    [view] = plugin["external_views"]
    assert view["name"] == "Data health" and view["url_route"] == "data-health" and view["destination"] == "nav"
    assert view["href"] == "data-health/"
    assert client.get("/data-health/icon.svg").headers["content-type"].startswith("image/svg+xml")


def test_page_needs_an_airflow_login(api, warehouse):
    seed(warehouse)
    client, token = api
    anonymous = client.get(PAGE)
    assert anonymous.status_code == 401
    assert "Log in to Airflow first" in anonymous.text and "birdeye" not in anonymous.text
    forged = client.get(PAGE, headers={"Authorization": "Bearer not-a-jwt"})
    assert forged.status_code == 403 and "birdeye" not in forged.text
    assert client.get(PAGE, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert get_page(api).status_code == 200


def test_page_shows_freshness_charts_runs_rejections_and_candles(api, warehouse):
    seeded = seed(warehouse)
    t0 = seeded["t0"]
    answer = get_page(api, "?window=6h")
    assert answer.status_code == 200, answer.text
    html = answer.text

    freshness = section(html, "freshness")
    row = re.search(r'<tr class="[^"]*" data-source="birdeye" data-dataset="ohlcv">(.*?)</tr>', freshness, re.S)
    assert row, freshness
    assert f"{seeded['candle_starts'][-1]:%Y-%m-%d %H:%M:%S}" in row.group(1)          # newest candle
    assert f"{t0 + timedelta(minutes=5):%Y-%m-%d %H:%M:%S}" in row.group(1)            # last successful interval end
    assert "failed" in row.group(1) and "ApiUnavailable: HTTP 503" in row.group(1)
    fees = re.search(r'data-source="defillama" data-dataset="fees">(.*?)</tr>', freshness, re.S).group(1)
    assert f"{t0 - timedelta(hours=2):%Y-%m-%d %H:%M:%S}" in fees

    charts = section(html, "charts")
    records = re.search(r'<svg class="chart" data-chart="records_per_min" data-points="(\d+)"(.*?)</svg>', charts, re.S)
    assert records and records.group(1) == "4"       # birdeye in 3 buckets, defillama in 1
    assert "birdeye" in records.group(2) and "defillama" in records.group(2)
    assert f"birdeye {t0:%Y-%m-%d %H:%M} UTC: 24 /min" in unescape(records.group(2))    # 120 records / 5 min
    errors = re.search(r'data-chart="error_rate" data-points="(\d+)"(.*?)</svg>', charts, re.S)
    assert errors.group(1) == "3"                    # defillama made no call: no error rate, no point
    assert f"birdeye {t0 + timedelta(minutes=10):%Y-%m-%d %H:%M} UTC: 100%" in unescape(errors.group(2))
    assert f"birdeye {t0:%Y-%m-%d %H:%M} UTC: 10%" in unescape(errors.group(2))
    latency = re.search(r'data-chart="latency_birdeye" data-points="(\d+)"(.*?)</svg>', charts, re.S)
    assert latency.group(1) == "9"                   # p50, p95, p99 in 3 buckets
    assert f"p99 {t0 + timedelta(minutes=10):%Y-%m-%d %H:%M} UTC: 1.2k ms" in unescape(latency.group(2))
    assert 'data-chart="latency_defillama"' not in charts                                 # no calls, no latency

    runs = section(html, "recent-loads")
    assert runs.count('data-dag="birdeye_dag"') == 3 and runs.count('data-dag="defillama_dag"') == 1
    assert f"{t0 - timedelta(minutes=5):%Y-%m-%d %H:%M:%S} &rarr; {t0:%Y-%m-%d %H:%M:%S}" in runs

    rejections = text_of(section(html, "rejections"))
    assert "high below low: fix the candle" in rejections and '{"h": 0.5, "o": 1}' in rejections

    candles = section(html, "candles")
    assert re.search(rf'<option value="{SOL}" selected>SOL', candles)
    assert f'<option value="{USDC}">USDC' in candles and "no candles" in candles
    starts = re.findall(r'data-bucket-start="([^"]+)"', candles)
    assert starts == [s.isoformat() for s in reversed(seeded["candle_starts"])]          # newest first
    assert 'data-chart="candles" data-points="3"' in candles
    assert "151.5" in text_of(candles) and "prices in USD" in text_of(candles)


def test_token_and_interval_can_be_chosen(api, warehouse):
    t0 = seed(warehouse)["t0"]
    unlisted = "DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263"        # Birdeye candles, not on the watchlist
    warehouse.execute("""INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close)
                         VALUES ('birdeye', %s, '5m', %s, 2, 3, 1, 2.5)""", (unlisted, t0))
    default = section(get_page(api).text, "candles")
    assert re.search(rf'<option value="{SOL}" selected>SOL', default)
    assert f'<option value="{unlisted}">DezXAZ...B263</option>' in default
    chosen = section(get_page(api, f"?token={unlisted}&interval=5m").text, "candles")
    assert re.findall(r'data-bucket-start="([^"]+)"', chosen) == [t0.isoformat()]
    usdc = section(get_page(api, f"?token={USDC}&interval=5m").text, "candles")
    assert re.search(rf'<option value="{USDC}" selected>USDC', usdc)
    assert "No 5m candles from birdeye for" in text_of(usdc)
    sol_5m = section(get_page(api, f"?token={SOL}&interval=5m").text, "candles")
    assert "No 5m candles" in text_of(sol_5m)                         # only 1m candles were stored
    sol_1m = section(get_page(api, f"?token={SOL}&interval=1m&source=birdeye").text, "candles")
    assert len(re.findall(r"data-bucket-start=", sol_1m)) == 3


def test_bad_parameters_get_a_notice_not_an_error(api, warehouse):
    seed(warehouse)
    answer = get_page(api, "?window=99y&interval=7m&source=nope&token=<script>alert(1)</script>")
    assert answer.status_code == 200
    assert "Unknown window '99y'" in unescape(answer.text) and "Unknown candle interval '7m'" in unescape(answer.text)
    assert "<script>" not in answer.text and "not a mint address" in answer.text


def test_empty_warehouse_says_so(api, warehouse):
    answer = get_page(api)
    assert answer.status_code == 200
    text = text_of(answer.text)
    assert "No runs and no data yet" in text and "No runs in the last 24h" in text
    assert "No rejected records" in text and "No watchlist tokens yet" in text


def test_warehouse_down_is_a_clear_message_without_the_password(api, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE",
                       f"postgresql://cryptoflow:pw-must-not-show@127.0.0.1:{free_port()}/warehouse")
    answer = get_page(api)
    assert answer.status_code == 503
    assert "Cannot connect to the warehouse (Airflow connection 'warehouse')" in unescape(answer.text)
    assert "is its PostgreSQL running?" in answer.text and "Connection refused" in answer.text
    assert "pw-must-not-show" not in answer.text and "Traceback" not in answer.text


def test_undefined_warehouse_connection_is_a_clear_message(api, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_WAREHOUSE")
    answer = get_page(api)
    assert answer.status_code == 503
    assert "Airflow connection 'warehouse' is not usable" in unescape(answer.text)
    assert "AIRFLOW_CONN_WAREHOUSE" in answer.text


def test_unmigrated_warehouse_says_to_migrate(api, pg_cluster, monkeypatch):
    pg_cluster.create_database("health_unmigrated")
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", pg_cluster.dsn("health_unmigrated"))
    answer = get_page(api)
    assert answer.status_code == 200                        # the page is there; each section says what is wrong
    assert "lacks the monitoring views" in answer.text and "make migrate" in answer.text


def test_a_connection_password_never_reaches_the_page(api, warehouse, warehouse_dsn, monkeypatch):
    seed(warehouse)
    # the test cluster trusts local connections, so any password works: the page must still not show it
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", warehouse_dsn.replace("cryptoflow@", "cryptoflow:hunter2-secret@"))
    answer = get_page(api)
    assert answer.status_code == 200 and 'data-chart="records_per_min"' in answer.text
    assert "hunter2-secret" not in answer.text


def test_line_chart_leaves_gaps_for_missing_buckets():
    from datetime import UTC, datetime

    t0 = datetime(2026, 11, 20, tzinfo=UTC)
    step = timedelta(minutes=5)
    points = [(t0, 1.0), (t0 + step, 2.0), (t0 + 3 * step, 3.0), (t0 + 4 * step, None), (t0 + 5 * step, 4.0)]
    chart = svg.line_chart("x", "x", [svg.Series("s", points)], t0, t0 + 6 * step, step)
    assert chart.count("<polyline") == 1 and chart.count("<circle") == 4 and 'data-points="4"' in chart
    assert svg.nice_ceiling(0) == 1 and svg.nice_ceiling(7.3) == 10 and svg.nice_ceiling(0.21) == 0.25
