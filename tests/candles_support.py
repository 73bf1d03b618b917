"""Shared helpers of the candle tests: random trades with the awkward cases, and the same candles computed in pandas."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal

import pandas as pd
import psycopg

WSOL = "So11111111111111111111111111111111111111112"
USDC = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"
MINTS = ("AaaPumpMint111111111111111111111111111pump", "BbbPumpMint111111111111111111111111111pump",
         "CccPumpMint111111111111111111111111111pump")
ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
INTERVALS = {"1m": "1min", "5m": "5min", "1h": "1h", "6h": "6h", "24h": "1D"}
PRICE = Context(prec=34)
START = datetime(2026, 11, 19, 22, 0, tzinfo=UTC)   # the generated trades cross a UTC midnight


@dataclass(frozen=True)
class Trade:
    signature: str
    event_index: int
    block_time: datetime
    mint: str
    side: str
    token_amount: Decimal
    quote_amount: Decimal
    quote_mint: str = WSOL
    source: str = "helius"

    @property
    def price(self) -> Decimal | None:
        return PRICE.divide(self.quote_amount, self.token_amount) if self.token_amount > 0 else None

    def row(self) -> tuple:
        return (self.signature, self.event_index, self.source, self.block_time, self.mint, self.side,
                self.token_amount, self.quote_mint, self.quote_amount, self.price)


class TradeFactory:
    """Random trades over ``hours`` from ``START``: second-resolution times (many ties, as Helius block times) and
    microsecond ones (as the stream), several trades per transaction, signatures of different lengths (one a prefix
    of another), a few trades in another quote token and a few without a usable price."""

    def __init__(self, seed: int, hours: float = 30):
        self.rng = random.Random(seed)
        self.hours = hours
        self.n = 0

    def signature(self) -> str:
        self.n += 1
        length = self.rng.choice((86, 87, 88))
        return "".join(self.rng.choice(ALPHABET) for _ in range(length))

    def moment(self, around: datetime | None = None) -> datetime:
        if around is None:
            moment = START + timedelta(seconds=self.rng.randrange(int(self.hours * 3600)))
        else:
            moment = around + timedelta(seconds=self.rng.randrange(-90, 90))
        if self.rng.random() < 0.3:
            moment += timedelta(microseconds=self.rng.randrange(1, 1_000_000))
        return moment

    def trade(self, **fixed) -> Trade:
        token = Decimal(self.rng.randrange(1, 10**12)).scaleb(-6)
        quote = Decimal(self.rng.randrange(1, 10**10)).scaleb(-9)
        values = dict(signature=self.signature(), event_index=0, block_time=self.moment(),
                      mint=self.rng.choice(MINTS), side=self.rng.choice(("buy", "sell")), token_amount=token,
                      quote_amount=quote)
        values.update(fixed)
        return Trade(**values)

    def batch(self, count: int, around: datetime | None = None) -> list[Trade]:
        out: list[Trade] = []
        while len(out) < count:
            base = self.trade(block_time=self.moment(around))
            out.append(base)
            roll = self.rng.random()
            if roll < 0.15:        # more trades of the same transaction (same time)
                out += [self.trade(signature=base.signature, event_index=i, block_time=base.block_time)
                        for i in range(1, self.rng.randrange(2, 4))]
            elif roll < 0.35:      # other transactions in the same second
                out += [self.trade(block_time=base.block_time, mint=base.mint)
                        for _ in range(self.rng.randrange(1, 4))]
            elif roll < 0.37:      # a signature that is a prefix of another one, at the same time
                out.append(replace(base, signature=base.signature[:-1], event_index=0))
            elif roll < 0.39:
                out.append(self.trade(quote_mint=USDC, block_time=base.block_time, mint=base.mint))
            elif roll < 0.40:
                out.append(self.trade(token_amount=Decimal(0), block_time=base.block_time, mint=base.mint))
        return out[:count]


def insert_trades(conn: psycopg.Connection, trades: list[Trade]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO trades (signature, event_index, source, block_time, mint, side, token_amount, quote_mint,
                                   quote_amount, price) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [t.row() for t in trades])


def stored_trades(conn: psycopg.Connection) -> pd.DataFrame:
    rows = conn.execute("""SELECT signature, event_index, block_time, mint, token_amount, quote_mint, quote_amount,
                                  price FROM trades""").fetchall()
    return pd.DataFrame(rows, columns=["signature", "event_index", "block_time", "mint", "token_amount", "quote_mint",
                                       "quote_amount", "price"])


def pandas_candles(trades: pd.DataFrame, interval: str) -> dict[tuple, tuple]:
    """(token, bucket_start) -> (open, high, low, close, volume, volume_quote, trade_count, vwap), the definition."""
    df = trades[(trades.quote_mint == WSOL) & trades.price.notna()].copy()
    df = df[(df.price > 0) & (df.token_amount > 0)]
    df["block_time"] = pd.to_datetime(df.block_time, utc=True)
    df["bucket"] = df.block_time.dt.floor(INTERVALS[interval])
    # (time, signature, event_index): Python compares str by code point, i.e. PostgreSQL's "C" order
    df = df.sort_values(["block_time", "signature", "event_index"], kind="mergesort")
    out = {}
    for (mint, bucket), g in df.groupby(["mint", "bucket"], sort=False):
        volume, volume_quote = sum(g.token_amount, Decimal(0)), sum(g.quote_amount, Decimal(0))
        out[(mint, bucket.to_pydatetime())] = (g.price.iloc[0], max(g.price), min(g.price), g.price.iloc[-1], volume,
                                              volume_quote, len(g), volume_quote / volume)
    return out


def db_candles(conn: psycopg.Connection, interval: str) -> dict[tuple, tuple]:
    rows = conn.execute("""SELECT token, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap
                           FROM candles WHERE source = 'trades' AND interval = %s""", (interval,)).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def assert_matches_pandas(conn: psycopg.Connection) -> int:
    """Every interval's derived candles equal the pandas computation of the stored trades; returns candles seen."""
    trades = stored_trades(conn)
    seen = 0
    for interval in INTERVALS:
        expected, actual = pandas_candles(trades, interval), db_candles(conn, interval)
        missing, extra = sorted(expected.keys() - actual.keys())[:3], sorted(actual.keys() - expected.keys())[:3]
        assert not missing and not extra, f"{interval}: buckets differ: missing {missing}, extra {extra}"
        for key, want in expected.items():
            got = actual[key]
            assert got[:7] == want[:7], f"{interval} {key}: {got[:7]} != {want[:7]}"
            assert abs(got[7] - want[7]) <= abs(want[7]) * Decimal("1e-15"), f"{interval} {key} vwap"
        seen += len(actual)
    return seen


def snapshot(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("""SELECT token, interval, bucket_start, open, high, low, close, volume, volume_quote,
                                  trade_count, vwap FROM candles WHERE source = 'trades'
                           ORDER BY token, interval, bucket_start""").fetchall()
