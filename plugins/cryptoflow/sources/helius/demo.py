"""An offline stand-in for Helius' ``/v0/addresses/{address}/transactions``, served by the replay server.

``FakeHelius`` answers like the API where the DAG must care: time filters (``gte-time``, ``gt-time``, ``lte-time``,
``lt-time``), newest first, ``before-signature`` paging, ``limit`` 1-100, ``commitment`` (``processed`` refused),
a ``type`` filter that scans a limited window and otherwise answers HTTP 404 with the "continue with
before-signature" error, a 401 without the right ``api-key``, and, in ``legacy`` mode, the old parameter names
(``before``/``until``, no time filters; the new names are a 400). Transactions come from a fixed set per address or
from a generator called with the requested time range.

``register_demo`` serves generated activity for any address and any recent interval (``make demo``): every address
gets a few transactions per minute-bucket drawn deterministically from recorded shapes in ``include/demo/helius/``,
so re-fetching a window gives the same answer.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from cryptoflow.paths import INCLUDE_DIR

DEMO_DIR = INCLUDE_DIR / "demo" / "helius"
PATH = re.compile(r"/v0/addresses/(?P<address>[1-9A-HJ-NP-Za-km-z]{32,44})/transactions")
NEW_PARAMS = ("before-signature", "after-signature", "gte-time", "gt-time", "lte-time", "lt-time", "sort-order",
              "gte-slot", "gt-slot", "lte-slot", "lt-slot")
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
Response = tuple[int, dict[str, str], Any]
Generator = Callable[[str, int, int], Iterable[dict[str, Any]]]


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _ALPHABET[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def fake_signature(*parts: object) -> str:
    """A deterministic 64-byte signature in base58, like a real one."""
    return b58encode(hashlib.sha512("|".join(map(str, parts)).encode()).digest())


def fake_address(*parts: object) -> str:
    return b58encode(hashlib.sha256("|".join(map(str, parts)).encode()).digest())


def _order(tx: dict[str, Any]) -> tuple:
    return (-int(tx.get("timestamp") or 0), -int(tx.get("slot") or 0), str(tx.get("signature")))


def _error(status: int, message: str) -> Response:
    return status, {}, {"error": message}


class FakeHelius:
    """Replay-server handler for the Enhanced Transactions by address endpoint.

    ``transactions``: address -> its transactions; or ``generator(address, start, end)`` giving the transactions
    with ``start <= timestamp < end`` (unix seconds). ``search_window``: transactions a ``type``-filtered request
    scans before giving up with the continuation error. ``api_key``: the key to accept (None: any non-empty key).
    """

    def __init__(self, transactions: dict[str, list[dict[str, Any]]] | None = None, *,
                 generator: Generator | None = None, api_key: str | None = None, search_window: int = 100,
                 legacy: bool = False) -> None:
        self.transactions = {a: sorted(txs, key=_order) for a, txs in (transactions or {}).items()}
        self.generator = generator
        self.api_key = api_key
        self.search_window = search_window
        self.legacy = legacy

    def register(self, server) -> FakeHelius:
        server.add(path_regex=PATH.pattern, handler=self.handle, method="GET")
        return self

    def _candidates(self, address: str, start: int, end: int) -> list[dict[str, Any]]:
        if self.generator is not None:
            txs = list(self.generator(address, start, end))
        else:
            txs = self.transactions.get(address, [])
        return sorted((tx for tx in txs if start <= int(tx["timestamp"]) < end), key=_order)

    def handle(self, request) -> Response:
        q = request.query
        key = q.get("api-key")
        if not key or (self.api_key is not None and key != self.api_key):
            return _error(401, "Unauthorized: invalid or missing api key")
        match = PATH.fullmatch(request.path)
        if not match:
            return _error(404, "not found")
        address = match.group("address")
        if self.legacy:
            refused = [p for p in NEW_PARAMS if p in q]
            if refused:
                return _error(400, f"invalid query parameter(s): {', '.join(refused)}")
        commitment = q.get("commitment", "finalized")
        if commitment not in ("finalized", "confirmed"):
            return _error(400, f"commitment {commitment!r} is not supported; use finalized or confirmed")
        try:
            limit = int(q.get("limit", "10"))
            start, end = 0, 2**62
            if not self.legacy:
                if "gte-time" in q:
                    start = max(start, int(q["gte-time"]))
                if "gt-time" in q:
                    start = max(start, int(q["gt-time"]) + 1)
                if "lte-time" in q:
                    end = min(end, int(q["lte-time"]) + 1)
                if "lt-time" in q:
                    end = min(end, int(q["lt-time"]))
        except ValueError as exc:
            return _error(400, f"invalid number: {exc}")
        if not 1 <= limit <= 100:
            return _error(400, "limit must be between 1 and 100")
        if q.get("sort-order", "desc") != "desc":
            return _error(400, "this stand-in only serves sort-order=desc")
        ordered = self._candidates(address, start, end)
        before_param = "before" if self.legacy else "before-signature"
        before = q.get(before_param)
        if before:
            position = next((i for i, tx in enumerate(ordered) if tx.get("signature") == before), None)
            if position is None:
                return _error(400, f"{before_param} {before} is not a transaction of {address} in this range")
            ordered = ordered[position + 1:]
        wanted = q.get("type")
        if not wanted:
            return 200, {}, ordered[:limit]
        matches, scanned = [], 0
        for tx in ordered:
            scanned += 1
            if tx.get("type") == wanted:
                matches.append(tx)
                if len(matches) == limit:
                    break
            if scanned >= self.search_window:
                break
        if not matches and scanned < len(ordered):
            last = ordered[scanned - 1]["signature"]
            return _error(404, "Failed to find events within the search period. To continue search, query the API "
                               f"again with the `{before_param}` parameter set to {last}.")
        return 200, {}, matches


# -- the offline demo ------------------------------------------------------------------------------------------------
class DemoActivity:
    """Deterministic activity for any address: a few transactions per minute, drawn from recorded shapes.

    Templates carry ``__WALLET__`` where the address goes and ``__PEER__`` for a counterparty; amounts of
    transfers are scaled so that now and then one is large enough to be a whale movement. Only time-filtered
    windows of up to a week get activity.
    """

    def __init__(self, templates: list[dict[str, Any]], per_minute: float = 0.12) -> None:
        self.templates = templates
        self.per_minute = per_minute

    @staticmethod
    def _unit(*parts: object) -> float:
        return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big") / 2**64

    def __call__(self, address: str, start: int, end: int) -> list[dict[str, Any]]:
        if end - start > 7 * 86400:
            return []   # the demo generates activity for time-filtered requests of up to a week
        out = []
        for minute in range(start - start % 60, end, 60):
            if self._unit(address, minute) >= self.per_minute:
                continue
            ts = minute + int(self._unit(address, minute, "s") * 60)
            if not start <= ts < end:
                continue
            template = self.templates[int(self._unit(address, minute, "t") * len(self.templates))]
            scale = 400 if self._unit(address, minute, "big") < 0.05 else 1
            out.append(self.instantiate(template, address, ts, scale))
        return out

    @staticmethod
    def instantiate(template: dict[str, Any], address: str, ts: int, scale: int = 1) -> dict[str, Any]:
        text = json.dumps(template).replace("__WALLET__", address).replace("__PEER__", fake_address(address, ts))
        tx = json.loads(text)
        tx["signature"] = fake_signature(address, ts, template.get("signature"))
        tx["timestamp"] = ts
        tx["slot"] = 250_000_000 + (ts - 1_700_000_000) * 5 // 2
        if scale != 1 and tx.get("type") == "TRANSFER" and not tx.get("tokenTransfers"):
            for transfer in tx.get("nativeTransfers") or []:
                transfer["amount"] = int(transfer["amount"]) * scale
            for account in tx.get("accountData") or []:
                account["nativeBalanceChange"] = int(account.get("nativeBalanceChange") or 0) * scale
        return copy.deepcopy(tx)


def register_demo(server) -> FakeHelius:
    """Serve generated Helius activity for every address (``make demo``)."""
    templates = json.loads((DEMO_DIR / "templates.json").read_text())
    return FakeHelius(generator=DemoActivity(templates), search_window=25).register(server)
