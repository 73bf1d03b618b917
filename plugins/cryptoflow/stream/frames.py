"""Websocket frames of the two pump.fun trade feeds, normalised into ``trades`` / ``tokens`` rows.

The feeds disagree on units (apis.md section 5.4):

* PumpPortal (``{"txType": "buy", "tokenAmount": 354.840158, "solAmount": 1e-05, ...}``): UI-unit floats, no
  timestamp and no slot. Amounts are parsed from the JSON text as decimals (never through binary floats) and rounded
  to the token's 6 and SOL's 9 decimals; the trade is stamped with the receive time (``time_is_receive_time``).
* pump.fun frontend Socket.IO (``42["tradeCreated", {...}]``): lamports and raw token amounts as integers, a unix
  ``timestamp`` in seconds and a ``slot``; divided exactly by 10^9 and 10^6.

Each trade keeps the feed's own fields in ``feed_fields`` (numbers as sent); coin metadata that repeats on every
frontend frame goes to the token instead. A frame that is not what we expect raises ``MalformedFrame`` with the
reason; a control message (subscription acks, Engine.IO pings) is returned as such.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any

WSOL_MINT = "So11111111111111111111111111111111111111112"
SOL_DECIMALS = 9
PUMP_TOKEN_DECIMALS = 6   # every pump.fun (and PumpSwap / LetsBonk) token
# PumpPortal venues whose tokens are pump.fun-style 6-decimal tokens; old messages have no ``pool`` (pump.fun then).
PUMP_POOLS = frozenset({None, "pump", "pump-amm", "bonk"})
OTHER_TOKEN_PLACES = 9   # another pool's token: keep up to 9 places, decimals unknown
_PRICE_CONTEXT = Context(prec=34, rounding=ROUND_HALF_EVEN)
_MAX_SIGNATURE = 100
_MAX_ADDRESS = 64

# Static coin metadata of the frontend feed: stored once on the token, not on every trade.
COIN_METADATA_KEYS = frozenset({
    "name", "symbol", "description", "image_uri", "video_uri", "metadata_uri", "twitter", "telegram", "website",
    "bonding_curve", "associated_bonding_curve", "creator", "created_timestamp", "show_name", "nsfw",
    "creator_username", "creator_profile_image",
})


class MalformedFrame(ValueError):
    """A frame we cannot use; the message says why."""


@dataclass(frozen=True)
class TradeRow:
    signature: str
    source: str                 # 'pumpportal' or 'pumpfun'
    block_time: datetime
    slot: int | None
    trader: str
    mint: str
    side: str                   # 'buy' or 'sell', from the trader's view on ``mint``
    token_amount: Decimal       # decimal-adjusted
    quote_amount: Decimal       # SOL, decimal-adjusted
    price: Decimal              # quote per token
    time_is_receive_time: bool
    feed_fields: dict[str, Any]
    quote_mint: str = WSOL_MINT

    @property
    def identity(self) -> tuple[str, str, str]:
        """What tells two trades of one transaction apart (the feeds give no index we can rely on)."""
        return (self.mint, self.trader, self.side)


@dataclass(frozen=True)
class TokenRow:
    mint: str
    symbol: str | None = None
    name: str | None = None
    decimals: int | None = PUMP_TOKEN_DECIMALS
    uri: str | None = None
    creator: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedFrame:
    kind: str                                   # 'trade', 'create', 'control'
    trades: list[TradeRow] = field(default_factory=list)
    tokens: list[TokenRow] = field(default_factory=list)
    control: str | None = None                  # the control message, for the log
    reply: str | None = None                    # what the protocol wants sent back (Engine.IO handshake, pong)


def _reject_constant(name: str) -> Any:
    raise MalformedFrame(f"number {name} is not allowed")


def loads(text: str) -> Any:
    """JSON with every non-integer number as an exact ``Decimal``."""
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MalformedFrame(f"not JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise MalformedFrame("not JSON: nested too deeply") from None


def dumps(value: Any) -> str:
    """JSON text of ``value`` with decimals written as the numbers they are (``json`` would quote them)."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} has no JSON form")
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} has no JSON form")
    return json.dumps(value)


def _text(obj: dict, key: str, max_len: int = _MAX_ADDRESS, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise MalformedFrame(f"{key}: expected a non-empty string, got {_short(value)}")
    return value.strip()


def _number(obj: dict, key: str) -> Decimal:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise MalformedFrame(f"{key}: expected a number, got {_short(value)}")
    number = Decimal(value)
    if not number.is_finite():
        raise MalformedFrame(f"{key}: {value} is not a finite number")
    return number


def _integer(obj: dict, key: str) -> int:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedFrame(f"{key}: expected an integer, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _units(value: Decimal, decimals: int, what: str) -> Decimal:
    """``value`` (UI units) rounded to the asset's smallest unit; refuses negative amounts."""
    if value < 0:
        raise MalformedFrame(f"{what}: negative amount {value}")
    try:
        return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        raise MalformedFrame(f"{what}: {value} is out of range") from None


def _price(quote: Decimal, token: Decimal) -> Decimal:
    return _PRICE_CONTEXT.divide(quote, token).normalize(_PRICE_CONTEXT)


def _check_trade_amounts(token_amount: Decimal, quote_amount: Decimal) -> None:
    if token_amount <= 0:
        raise MalformedFrame(f"token amount {token_amount} is not positive: no price")
    if quote_amount <= 0:
        raise MalformedFrame(f"SOL amount {quote_amount} is not positive: no price")


def parse_pumpportal(obj: dict, received_at: datetime) -> ParsedFrame:
    """A PumpPortal data message (trade, token creation, or a control message such as a subscription ack)."""
    tx_type = obj.get("txType")
    if tx_type is None:
        error = obj.get("errors") or obj.get("error")
        message = f"error: {error}" if error else obj.get("message")
        return ParsedFrame(kind="control", control=str(message if message is not None else obj)[:300])
    if tx_type not in ("buy", "sell", "create"):
        raise MalformedFrame(f"txType: expected buy, sell or create, got {_short(tx_type)}")
    signature = _text(obj, "signature", _MAX_SIGNATURE)
    mint = _text(obj, "mint")
    trader = _text(obj, "traderPublicKey")
    if tx_type == "create":
        token = TokenRow(
            mint=mint, symbol=_text(obj, "symbol", 200, required=False), name=_text(obj, "name", 500, required=False),
            uri=_text(obj, "uri", 2000, required=False), creator=trader,
            metadata={k: obj[k] for k in ("bondingCurveKey", "pool", "is_mayhem_mode", "marketCapSol") if k in obj}
            | {"created_signature": signature, "source": "pumpportal"})
        parsed = ParsedFrame(kind="create", tokens=[token])
        initial_buy = obj.get("initialBuy")
        sol = obj.get("solAmount")
        if initial_buy is not None and sol is not None:
            token_amount = _units(_number(obj, "initialBuy"), PUMP_TOKEN_DECIMALS, "initialBuy")
            quote_amount = _units(_number(obj, "solAmount"), SOL_DECIMALS, "solAmount")
            if token_amount > 0 and quote_amount > 0:
                parsed.trades.append(TradeRow(
                    signature=signature, source="pumpportal", block_time=received_at, slot=None, trader=trader,
                    mint=mint, side="buy", token_amount=token_amount, quote_amount=quote_amount,
                    price=_price(quote_amount, token_amount), time_is_receive_time=True, feed_fields=obj))
        return parsed
    if "solAmount" not in obj:
        raise MalformedFrame("solAmount: missing (a pre-2025 message?): the trade has no SOL amount")
    pump_token = obj.get("pool") in PUMP_POOLS
    token_amount = _units(_number(obj, "tokenAmount"), PUMP_TOKEN_DECIMALS if pump_token else OTHER_TOKEN_PLACES,
                          "tokenAmount")
    quote_amount = _units(_number(obj, "solAmount"), SOL_DECIMALS, "solAmount")
    _check_trade_amounts(token_amount, quote_amount)
    trade = TradeRow(
        signature=signature, source="pumpportal", block_time=received_at, slot=None, trader=trader, mint=mint,
        side=tx_type, token_amount=token_amount, quote_amount=quote_amount, price=_price(quote_amount, token_amount),
        time_is_receive_time=True, feed_fields=obj)
    token = TokenRow(mint=mint, decimals=PUMP_TOKEN_DECIMALS if pump_token else None,
                     metadata={"source": "pumpportal"} | ({"pool": obj["pool"]} if "pool" in obj else {}))
    return ParsedFrame(kind="trade", trades=[trade], tokens=[token])


def parse_trade_created(obj: dict) -> ParsedFrame:
    """The pump.fun frontend's ``tradeCreated`` event: lamports, raw token amounts, unix seconds."""
    signature = _text(obj, "signature", _MAX_SIGNATURE)
    mint = _text(obj, "mint")
    trader = _text(obj, "user")
    is_buy = obj.get("is_buy")
    if not isinstance(is_buy, bool):
        raise MalformedFrame(f"is_buy: expected true or false, got {_short(is_buy)}")
    lamports = _integer(obj, "sol_amount")
    raw_tokens = _integer(obj, "token_amount")
    if lamports < 0 or raw_tokens < 0:
        raise MalformedFrame("sol_amount / token_amount: negative amount")
    token_amount = Decimal(raw_tokens).scaleb(-PUMP_TOKEN_DECIMALS)
    quote_amount = Decimal(lamports).scaleb(-SOL_DECIMALS)
    _check_trade_amounts(token_amount, quote_amount)
    timestamp = _integer(obj, "timestamp")
    if timestamp > 10**11:
        raise MalformedFrame(f"timestamp: {timestamp} looks like milliseconds, expected unix seconds")
    try:
        block_time = datetime.fromtimestamp(timestamp, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedFrame(f"timestamp: {timestamp} is not a unix time") from None
    slot = obj.get("slot")
    if slot is not None and (isinstance(slot, bool) or not isinstance(slot, int)):
        raise MalformedFrame(f"slot: expected an integer, got {_short(slot)}")
    metadata = {k: obj[k] for k in COIN_METADATA_KEYS if k in obj}
    token = TokenRow(
        mint=mint, symbol=_optional_text(obj, "symbol"), name=_optional_text(obj, "name"),
        uri=_optional_text(obj, "metadata_uri"), creator=_optional_text(obj, "creator"),
        metadata=metadata | {"source": "pumpfun"})
    trade = TradeRow(
        signature=signature, source="pumpfun", block_time=block_time, slot=slot, trader=trader, mint=mint,
        side="buy" if is_buy else "sell", token_amount=token_amount, quote_amount=quote_amount,
        price=_price(quote_amount, token_amount), time_is_receive_time=False,
        feed_fields={k: v for k, v in obj.items() if k not in COIN_METADATA_KEYS})
    return ParsedFrame(kind="trade", trades=[trade], tokens=[token])


def _optional_text(obj: dict, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def parse_frame(text: str | bytes, received_at: datetime) -> ParsedFrame:
    """One websocket message of either feed. Raises ``MalformedFrame`` for anything unusable."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedFrame("binary frame that is not UTF-8 text") from None
    stripped = text.strip()
    if not stripped:
        raise MalformedFrame("empty frame")
    if stripped[0].isdigit():
        return _parse_socketio(stripped)
    obj = loads(stripped)
    if not isinstance(obj, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(obj).__name__}")
    if "sol_amount" in obj and "is_buy" in obj:   # a bare frontend trade object
        return parse_trade_created(obj)
    return parse_pumpportal(obj, received_at)


def _parse_socketio(text: str) -> ParsedFrame:
    """Engine.IO / Socket.IO framing: ``0{...}`` open, ``2`` ping, ``40`` connect, ``42[event, data]`` events."""
    digits = len(text) - len(text.lstrip("0123456789"))
    packet, payload = text[:digits], text[digits:]
    if packet == "0":
        return ParsedFrame(kind="control", control="engine.io open", reply="40")
    if packet == "2":
        return ParsedFrame(kind="control", control="engine.io ping", reply="3")
    if packet != "42":
        return ParsedFrame(kind="control", control=f"engine.io packet {packet}")
    event = loads(payload)
    if not (isinstance(event, list) and event and isinstance(event[0], str)):
        raise MalformedFrame("socket.io event: expected [name, data]")
    if event[0] != "tradeCreated":
        return ParsedFrame(kind="control", control=f"socket.io event {event[0]}")
    if len(event) < 2 or not isinstance(event[1], dict):
        raise MalformedFrame("tradeCreated: expected an object as data")
    return parse_trade_created(event[1])
