"""Artemis config files, request planning and answer parsing (no network, no database)."""

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest

from cryptoflow.sources.artemis.config import (
    ArtemisConfigError,
    load_config,
    parse_entity_map,
    parse_exclusions,
    parse_matrix,
)
from cryptoflow.sources.artemis.fetch import (
    Batch,
    MonthWindow,
    Request,
    day_window,
    month_windows,
    parse_answer,
    plan_batches,
)
from cryptoflow.sources.artemis.models import ArtemisPoint
from cryptoflow.validation import Rejections

FIXTURES = Path(__file__).parent / "fixtures" / "artemis"
EXCLUDED = frozenset({"VOLATILITY_90D_ANN", "STABLECOIN_AVG_DAU", "TOKENIZED_SHARES_TRADING_VOLUME", "FDMV_NAV_RATIO"})
UTC = dt.UTC


# -- the matrix ----------------------------------------------------------------------------------------------------

def test_small_matrix_pairs_drop_excluded_columns_and_normalise_case():
    matrix = parse_matrix((FIXTURES / "matrix_small.csv").read_text(), EXCLUDED)
    assert matrix.pairs == {
        "sol": ("DAU", "FEES", "MC", "PRICE"),
        "eth": ("FEES", "MC", "PRICE"),
        "aave": ("LENDING_DEPOSITS", "PRICE"),
        "eq-coin": ("MC", "PRICE"),
        "doge": ("PRICE",),
    }
    assert matrix.excluded_columns == ("VOLATILITY_90D_ANN",)
    assert ("sol", "VOLATILITY_90D_ANN") not in matrix.pair_set


def test_shipped_config_is_valid_and_realistic():
    config = load_config()
    matrix = config.matrix
    assert len(matrix.symbols) >= 250
    assert {"sol", "eth", "aave", "eq-coin", "eq-mstr"} <= set(matrix.pairs)
    assert config.excluded == EXCLUDED
    assert set(matrix.excluded_columns) == EXCLUDED           # the columns exist but are never pulled
    assert not {m for _, m in matrix.pair_set} & EXCLUDED
    assert {"PRICE", "MC", "FEES", "REVENUE", "DAU", "TXNS", "24H_VOLUME", "AVG_TXN_FEE", "PERP_FEES", "PERP_TXNS",
            "LENDING_DEPOSITS", "LENDING_BORROWS", "SPOT_VOLUME", "CIRCULATING_SUPPLY"} <= set(matrix.metrics)
    links = {link.artemis_id: link.defillama_slug for link in config.entity_links}
    assert links["sol"] == "solana" and links["eth"] == "ethereum" and links["aave"] == "aave"
    assert set(links) <= set(matrix.symbols), "every linked Artemis id should be in the matrix"


@pytest.mark.parametrize("text, message", [
    ("symbol,PRICE,FEEZ\nsol,x,x\n", "line 1, column 3: unknown metric 'FEEZ'"),
    ("# comment\n\nsymbol,PRICE\nsol,x\neth,x\nSOL,x\n", "line 6: duplicate asset 'sol' (first on line 4)"),
    ("symbol,PRICE,MC\nsol,x,x\neth,x\n", "line 3: malformed row: 2 fields where the header (line 1) has 3"),
    ("symbol,PRICE,MC\nsol,x,maybe\n", "line 2: malformed row: 'maybe' in column MC of 'sol'"),
    ("symbol,PRICE\nso l,x\n", "line 2: malformed symbol 'so l'"),
    ("asset,PRICE\nsol,x\n", "line 1: the first column must be 'symbol'"),
    ("symbol,PRICE,price\nsol,x,x\n", "line 1, column 3: metric 'PRICE' appears twice"),
    ("# only comments\n", "is empty"),
])
def test_bad_matrix_is_a_clear_error_naming_the_line(text, message):
    with pytest.raises(ArtemisConfigError) as exc:
        parse_matrix(text, EXCLUDED, name="artemis_config.csv")
    assert f"artemis_config.csv {message}" in str(exc.value)


def test_unknown_excluded_metric_names_the_line():
    with pytest.raises(ArtemisConfigError, match=r"excl.txt line 3: unknown metric 'VOLATILITY_90D'"):
        parse_exclusions("# x\nPRICE\nVOLATILITY_90D\n", name="excl.txt")


def test_entity_map_validation():
    links = parse_entity_map("artemis_id,defillama_slug,kind,note\nSOL,Solana,chain,\naave,aave,,\n")
    assert [(x.artemis_id, x.defillama_slug, x.kind) for x in links] == [("sol", "solana", "chain"),
                                                                         ("aave", "aave", None)]
    with pytest.raises(ArtemisConfigError, match="m.csv line 3: duplicate artemis_id 'sol' \\(first on line 2\\)"):
        parse_entity_map("artemis_id,defillama_slug\nsol,solana\nsol,sol\n", name="m.csv")
    with pytest.raises(ArtemisConfigError, match="line 2: kind 'token'"):
        parse_entity_map("artemis_id,defillama_slug,kind\nsol,solana,token\n")


def test_missing_file_names_the_override_variable(tmp_path):
    with pytest.raises(ArtemisConfigError, match="ARTEMIS_CONFIG_CSV"):
        load_config(matrix_path=tmp_path / "nope.csv")


def test_paths_come_from_the_environment(monkeypatch, tmp_path):
    (tmp_path / "m.csv").write_text("symbol,PRICE\nzzz,x\n")
    monkeypatch.setenv("ARTEMIS_CONFIG_CSV", str(tmp_path / "m.csv"))
    assert load_config().matrix.pairs == {"zzz": ("PRICE",)}


# -- windows and batches -------------------------------------------------------------------------------------------

def test_day_window_is_whole_utc_days_before_the_interval_end():
    assert day_window(dt.datetime(2026, 11, 6, 0, 5, tzinfo=UTC), 3) == (dt.date(2026, 11, 3), dt.date(2026, 11, 6))
    assert day_window(dt.datetime(2026, 11, 6, tzinfo=UTC), 1) == (dt.date(2026, 11, 5), dt.date(2026, 11, 6))


def test_month_windows_cover_the_days_with_whole_months():
    assert month_windows(dt.date(2026, 11, 3), dt.date(2026, 11, 6)) == [
        MonthWindow(dt.date(2026, 11, 1), dt.date(2026, 11, 30))]
    assert month_windows(dt.date(2026, 12, 30), dt.date(2027, 1, 2)) == [
        MonthWindow(dt.date(2026, 12, 1), dt.date(2026, 12, 31)),
        MonthWindow(dt.date(2027, 1, 1), dt.date(2027, 1, 31))]
    # a window ending on the first of a month does not touch that month
    assert month_windows(dt.date(2026, 2, 26), dt.date(2026, 3, 1)) == [
        MonthWindow(dt.date(2026, 2, 1), dt.date(2026, 2, 28))]


def test_batches_cover_every_pair_within_the_size_limits():
    matrix = parse_matrix((FIXTURES / "matrix_small.csv").read_text(), EXCLUDED)
    batches = plan_batches(matrix, symbols_per_request=2, metrics_per_request=3)
    assert all(len(b.symbols) <= 2 and len(b.metrics) <= 3 for b in batches)
    covered = {(s, m) for b in batches for s in b.symbols for m in b.metrics}
    assert matrix.pair_set <= covered
    assert batches == plan_batches(matrix, 2, 3)   # deterministic: the cache depends on it
    # the most pulled metrics go together: PRICE (5 assets), MC (3), FEES (2); then DAU and LENDING_DEPOSITS (1 each)
    assert [b.metrics for b in batches] == [("PRICE", "MC", "FEES")] * 3 + [("DAU", "LENDING_DEPOSITS")]
    assert [b.symbols for b in batches] == [("aave", "doge"), ("eq-coin", "eth"), ("sol",), ("aave", "sol")]


def test_request_shape():
    request = Request(Batch(("PRICE", "24H_VOLUME"), ("sol", "eq-coin")), MonthWindow(dt.date(2026, 11, 1),
                                                                                      dt.date(2026, 11, 30)))
    assert request.endpoint == "data/api/PRICE,24H_VOLUME/"
    assert request.params == {"symbols": "sol,eq-coin", "startDate": "2026-11-01", "endDate": "2026-11-30",
                              "granularity": "DAY"}


# -- parsing the answer --------------------------------------------------------------------------------------------

def _trap_answer():
    matrix = parse_matrix((FIXTURES / "matrix_traps.csv").read_text(), EXCLUDED)
    request = Request(Batch(("DAU", "FEES", "MC", "PRICE"), ("eq-nope", "eth", "sol", "zzz")),
                      MonthWindow(dt.date(2026, 11, 1), dt.date(2026, 11, 30)))
    body = json.loads((FIXTURES / "answer_with_traps.json").read_text())
    return parse_answer(body, request, matrix.pair_set, dt.date(2026, 11, 3), dt.date(2026, 11, 6))


def test_parse_answer_handles_every_documented_trap():
    parsed = _trap_answer()
    rejections = Rejections()
    points = rejections.validate(parsed.records, ArtemisPoint)
    got = {(p.symbol, p.metric, p.date.isoformat()): p.val for p in points}
    assert got == {
        ("sol", "PRICE", "2026-11-03"): Decimal("140.25"), ("sol", "PRICE", "2026-11-04"): Decimal("141.5"),
        ("sol", "PRICE", "2026-11-05"): Decimal("142.75"),
        ("sol", "MC", "2026-11-03"): Decimal("78540000000.0"), ("sol", "MC", "2026-11-04"): Decimal("79240000000.0"),
        ("sol", "MC", "2026-11-05"): Decimal("79940000000.0"),
        # a missing day stays missing (no 2026-11-04), string values are numbers
        ("sol", "DAU", "2026-11-03"): Decimal("3200000"), ("sol", "DAU", "2026-11-05"): Decimal("3300000"),
        ("eth", "PRICE", "2026-11-03"): Decimal("3100.5"), ("eth", "PRICE", "2026-11-05"): Decimal("3120"),
        ("eth", "FEES", "2026-11-03"): Decimal("910000.0"), ("eth", "FEES", "2026-11-04"): Decimal("905000.0"),
        ("eth", "FEES", "2026-11-05"): Decimal("899000.5"),
    }
    assert parsed.outside == 2                                   # sol price of 11-02 and 11-06
    assert [reason for reason, _ in rejections.items] == ["ArtemisPoint: val: Value error, expected a number, got "
                                                          "the string 'n/a'"]
    problems = {(p.symbol, p.metric): p.reason for p in parsed.problems}
    assert set(problems) == {("sol", "FEES"), ("zzz", None), ("eq-nope", None)}
    assert "Metric not available" in problems[("sol", "FEES")]
    assert "missing from Artemis's answer" in problems[("zzz", None)]
    assert "Symbol eq-nope not found" in problems[("eq-nope", None)]


def test_not_the_documented_shape_is_an_error():
    from cryptoflow.hooks.base import MalformedResponse

    request = Request(Batch(("PRICE",), ("sol",)), MonthWindow(dt.date(2026, 11, 1), dt.date(2026, 11, 30)))
    with pytest.raises(MalformedResponse, match="expected"):
        parse_answer({"error": "bad"}, request, frozenset({("sol", "PRICE")}), dt.date(2026, 11, 3),
                     dt.date(2026, 11, 6))


@pytest.mark.parametrize("val, ok", [(1.5, True), ("2.25", True), (" 7 ", True), (0, True), ("n/a", False),
                                     (None, False), (True, False), ("NaN", False), ([1], False)])
def test_point_values(val, ok):
    record = {"symbol": "sol", "metric": "PRICE", "date": "2026-11-03", "val": val}
    rejections = Rejections()
    assert bool(rejections.validate([record], ArtemisPoint)) is ok


@pytest.mark.parametrize("date, ok", [("2026-11-03", True), ("2026-11-03T00:00:00Z", True),
                                      ("2026-11-03T12:00:00", False), (1762128000, False), ("03/11/2026", False),
                                      (None, False)])
def test_point_dates(date, ok):
    rejections = Rejections()
    assert bool(rejections.validate([{"symbol": "sol", "metric": "PRICE", "date": date, "val": 1}],
                                    ArtemisPoint)) is ok
