"""The tracked whale wallets and watchlist tokens, from ``include/config/`` (validated line by line).

``whale_wallets.csv``: ``address,label,tags`` (tags space-separated, e.g. ``cex binance hot-wallet``).
``watchlist.csv``: ``address,symbol,name,timeframes`` (shared with Birdeye; timeframes space-separated, empty = the
defaults). ``CRYPTOFLOW_WHALE_WALLETS`` and ``CRYPTOFLOW_WATCHLIST`` point at other files.
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass
from pathlib import Path

from airflow.sdk.exceptions import AirflowFailException

from cryptoflow.paths import CONFIG_DIR

WALLETS_ENV = "CRYPTOFLOW_WHALE_WALLETS"
WATCHLIST_ENV = "CRYPTOFLOW_WATCHLIST"
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {ch: i for i, ch in enumerate(_ALPHABET)}
_TAG = re.compile(r"^[a-z0-9][a-z0-9_.:-]*$")
_TIMEFRAME = re.compile(r"^\d+[a-zA-Z]+$")


class HeliusConfigError(AirflowFailException):
    """A config file or connection setting is wrong: retrying cannot help, so the task fails without retries."""


def b58decode(text: str) -> bytes:
    """The bytes of a base58 (Bitcoin alphabet) string; ValueError names the first bad character."""
    number = 0
    for pos, ch in enumerate(text):
        if ch not in _INDEX:
            raise ValueError(f"character {ch!r} at position {pos + 1} is not base58 (0, O, I and l never are)")
        number = number * 58 + _INDEX[ch]
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a Solana address (base58 of 32 bytes), or None when it is."""
    if not address:
        return "is empty"
    try:
        raw = b58decode(address)
    except ValueError as exc:
        return f"is not base58: {exc}"
    if len(raw) != 32:
        return f"decodes to {len(raw)} bytes, a Solana address has 32"
    return None


@dataclass(frozen=True)
class Wallet:
    address: str
    label: str | None
    tags: tuple[str, ...]


@dataclass(frozen=True)
class WatchedToken:
    address: str
    symbol: str | None
    name: str | None
    timeframes: tuple[str, ...] | None


def wallets_path(override: str | os.PathLike[str] | None = None) -> Path:
    return Path(override or os.environ.get(WALLETS_ENV) or CONFIG_DIR / "whale_wallets.csv")


def watchlist_path(override: str | os.PathLike[str] | None = None) -> Path:
    return Path(override or os.environ.get(WATCHLIST_ENV) or CONFIG_DIR / "watchlist.csv")


def _rows(path: Path, columns: tuple[str, ...]):
    """(line number, row) for each data line of a CSV; blank lines and lines starting with ``#`` are skipped."""
    if not path.exists():
        raise HeliusConfigError(f"{path} does not exist; create it with the header {','.join(columns)}")
    with path.open(newline="", encoding="utf-8") as fh:
        numbered = [(n, text) for n, text in enumerate(fh, 1) if text.strip() and not text.lstrip().startswith("#")]
    if not numbered:
        raise HeliusConfigError(f"{path} is empty; it needs the header {','.join(columns)}")
    header = [c.strip().lower() for c in next(csv.reader([numbered[0][1]]))]
    if "address" not in header:
        raise HeliusConfigError(f"{path}:{numbered[0][0]}: the header has no 'address' column (expected "
                                f"{','.join(columns)}); it has {header}")
    unknown = [c for c in header if c not in columns]
    if unknown:
        raise HeliusConfigError(f"{path}:{numbered[0][0]}: unknown column(s) {unknown}; expected {','.join(columns)}")
    for line, text in numbered[1:]:
        values = next(csv.reader([text]))
        if len(values) > len(header):
            raise HeliusConfigError(f"{path}:{line}: {len(values)} fields but the header has {len(header)}; quote "
                                    "values that contain commas")
        values += [""] * (len(header) - len(values))
        yield line, {k: v.strip() for k, v in zip(header, values, strict=True)}


def _check_address(path: Path, line: int, address: str, seen: dict[str, int], what: str) -> None:
    problem = address_problem(address)
    if problem:
        raise HeliusConfigError(f"{path}:{line}: {what} address {address!r} {problem}; fix or remove the line")
    if address in seen:
        raise HeliusConfigError(f"{path}:{line}: {what} address {address} is already listed on line "
                                f"{seen[address]}; keep one line per address")
    seen[address] = line


def load_wallets(override: str | os.PathLike[str] | None = None) -> list[Wallet]:
    path = wallets_path(override)
    wallets, seen = [], {}
    for line, row in _rows(path, ("address", "label", "tags")):
        address = row.get("address", "")
        _check_address(path, line, address, seen, "wallet")
        tags = tuple(dict.fromkeys(row.get("tags", "").lower().split()))
        bad = [t for t in tags if not _TAG.match(t)]
        if bad:
            raise HeliusConfigError(f"{path}:{line}: tag(s) {bad} of wallet {address}: use lower-case words "
                                    "separated by spaces (letters, digits, - _ . :)")
        wallets.append(Wallet(address, row.get("label") or None, tags))
    return wallets


def load_watchlist(override: str | os.PathLike[str] | None = None) -> list[WatchedToken]:
    path = watchlist_path(override)
    tokens, seen = [], {}
    for line, row in _rows(path, ("address", "symbol", "name", "timeframes")):
        address = row.get("address", "")
        _check_address(path, line, address, seen, "token mint")
        words = row.get("timeframes", "").split()
        bad = [w for w in words if not _TIMEFRAME.match(w)]
        if bad:
            raise HeliusConfigError(f"{path}:{line}: timeframe(s) {bad} of token {address}: write a number and a "
                                    "unit separated by spaces, e.g. '1m 5m 15m 1h' (empty = the defaults)")
        tokens.append(WatchedToken(address, row.get("symbol") or None, row.get("name") or None,
                                   tuple(dict.fromkeys(words)) or None))
    return tokens
