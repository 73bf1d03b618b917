"""The tokens Birdeye candles are loaded for, and their timeframes.

Read from ``include/config/watchlist.csv`` (columns ``address``, ``symbol``, ``name``, ``timeframes``; timeframes
space-separated, empty = the defaults). ``CRYPTOFLOW_WATCHLIST`` points at another file. Without a file, the
``watchlist`` table is used.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from cryptoflow.paths import CONFIG_DIR
from cryptoflow.sources.birdeye.hook import BirdeyeConfigError
from cryptoflow.sources.birdeye.models import DEFAULT_TIMEFRAMES, Timeframe, parse_timeframe

WATCHLIST_ENV = "CRYPTOFLOW_WATCHLIST"
_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
_EVM = re.compile(r"^0x[0-9a-fA-F]{40}$")
_EVM_CHAINS = frozenset({"ethereum", "arbitrum", "avalanche", "bsc", "optimism", "polygon", "base", "zksync",
                         "monad", "hyperevm", "mantle"})


@dataclass(frozen=True)
class WatchedToken:
    address: str
    symbol: str | None
    timeframes: tuple[Timeframe, ...]


def watchlist_path(override: str | os.PathLike[str] | None = None) -> Path:
    return Path(override or os.environ.get(WATCHLIST_ENV) or CONFIG_DIR / "watchlist.csv")


def check_address(address: str, chain: str) -> str | None:
    """Why ``address`` cannot be a token of ``chain``, or None when it can."""
    if chain == "solana" and not _BASE58.match(address):
        return "is not a Solana mint address (base58, 32 to 44 characters)"
    if chain in _EVM_CHAINS and not _EVM.match(address):
        return f"is not a {chain} token address (0x and 40 hex digits)"
    if not address or any(ch.isspace() or ch in "/?#&" for ch in address):
        return "is not a token address"
    return None


def _timeframes(raw: list[str] | str | None) -> tuple[Timeframe, ...]:
    words = raw.split() if isinstance(raw, str) else [w for w in (raw or []) if w and w.strip()]
    if not words:
        return DEFAULT_TIMEFRAMES
    out: list[Timeframe] = []
    for word in words:
        tf = parse_timeframe(word)
        if tf not in out:
            out.append(tf)
    return tuple(out)


def _csv_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and ``(line number, row)`` of a CSV whose blank and ``#`` comment lines (anywhere) are skipped."""
    lines = [(n, text) for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if text.strip() and not text.lstrip().startswith("#")]
    if not lines:
        return [], []
    parsed = list(csv.reader(text for _, text in lines))
    header = [c.strip().lower() for c in parsed[0]]
    rows = [(n, {header[i]: v.strip() for i, v in enumerate(values) if i < len(header)})
            for (n, _), values in zip(lines[1:], parsed[1:], strict=True)]
    return header, rows


def read_watchlist_file(path: Path, chain: str) -> list[WatchedToken]:
    """The tokens of a watchlist CSV; a bad line fails with the file, the line and what to fix."""
    try:
        header, rows = _csv_rows(path)
    except (ValueError, csv.Error, UnicodeDecodeError) as exc:
        raise BirdeyeConfigError(f"{path}: not a readable CSV file ({exc}); one token per line, no quoted line "
                                 "breaks") from None
    if "address" not in header:
        raise BirdeyeConfigError(f"{path}: the header has no 'address' column (expected: address,symbol,name,"
                                 f"timeframes); it has {header}")
    tokens: list[WatchedToken] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        address = row.get("address", "")
        if not address:
            continue
        problem = check_address(address, chain)
        if problem:
            raise BirdeyeConfigError(f"{path}:{line}: address {address!r} {problem} (x-chain {chain}); fix or "
                                     "remove the line")
        if address in seen:
            raise BirdeyeConfigError(f"{path}:{line}: address {address} is already listed on line "
                                     f"{seen[address]}; keep one line per token")
        try:
            timeframes = _timeframes(row.get("timeframes"))
        except ValueError as exc:
            raise BirdeyeConfigError(f"{path}:{line}: {exc}") from None
        seen[address] = line
        tokens.append(WatchedToken(address, row.get("symbol") or None, timeframes))
    return tokens


def read_watchlist_table(conn: psycopg.Connection, chain: str) -> list[WatchedToken]:
    tokens = []
    with conn.cursor() as cur:
        cur.execute("SELECT address, symbol, timeframes FROM watchlist ORDER BY address")
        for address, symbol, timeframes in cur.fetchall():
            problem = check_address(address, chain)
            if problem:
                raise BirdeyeConfigError(f"watchlist table: address {address!r} {problem} (x-chain {chain})")
            try:
                tokens.append(WatchedToken(address, symbol, _timeframes(timeframes)))
            except ValueError as exc:
                raise BirdeyeConfigError(f"watchlist table, address {address}: {exc}") from None
    return tokens


def load_watchlist(conn: psycopg.Connection | None, chain: str,
                   override: str | os.PathLike[str] | None = None) -> tuple[list[WatchedToken], str]:
    """The watched tokens and where they came from (for the log)."""
    path = watchlist_path(override)
    if path.exists():
        return read_watchlist_file(path, chain), str(path)
    if override or os.environ.get(WATCHLIST_ENV):
        raise BirdeyeConfigError(f"watchlist file {path} does not exist (set by {WATCHLIST_ENV} or the dataset)")
    if conn is None:
        return [], f"{path} (missing)"
    return read_watchlist_table(conn, chain), f"the watchlist table ({path} does not exist)"
