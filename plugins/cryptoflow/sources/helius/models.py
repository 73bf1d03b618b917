"""Enhanced transactions as Helius sends them, parsed tolerantly: only what we use is required.

Units (apis.md 3.4): ``tokenTransfers[].tokenAmount`` is a decimal-adjusted float, ``rawTokenAmount.tokenAmount`` a
string of base units, swap-event ``native*.amount`` a string of lamports, ``nativeTransfers[].amount``,
``nativeBalanceChange`` and ``fee`` integers of lamports. ``events`` is ``{}`` when there are none,
``events.compressed`` an array, ``nativeInput``/``nativeOutput`` may be null.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_BASE58 = re.compile(r"^[1-9A-HJ-NP-Za-km-z]+$")
_INTEGER = re.compile(r"^-?\d+$")


def _lamports(value: Any) -> int:
    """An integer amount sent as int or as a string of digits (never a float: that would lose lamports)."""
    if isinstance(value, bool):
        raise ValueError("must be an integer amount, not a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"must be an integer amount of base units, got {value!r}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


def _list(value: Any) -> Any:
    return [] if value is None else value


class NativeTransfer(_Model):
    fromUserAccount: str | None = None
    toUserAccount: str | None = None
    amount: int

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        return _lamports(value)


class TokenTransfer(_Model):
    fromUserAccount: str | None = None
    toUserAccount: str | None = None
    fromTokenAccount: str | None = None
    toTokenAccount: str | None = None
    tokenAmount: Decimal
    mint: str
    tokenStandard: str | None = None


class RawTokenAmount(_Model):
    tokenAmount: int
    decimals: int = Field(ge=0, le=30)

    @field_validator("tokenAmount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        return _lamports(value)


class TokenBalanceChange(_Model):
    userAccount: str | None = None
    tokenAccount: str | None = None
    mint: str
    rawTokenAmount: RawTokenAmount


class AccountData(_Model):
    account: str
    nativeBalanceChange: int = 0
    tokenBalanceChanges: list[TokenBalanceChange] = []

    @field_validator("nativeBalanceChange", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        return _lamports(value or 0)

    @field_validator("tokenBalanceChanges", mode="before")
    @classmethod
    def _changes(cls, value: Any) -> Any:
        return _list(value)


class NativeAmount(_Model):
    account: str | None = None
    amount: int

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        return _lamports(value)


class InnerSwap(_Model):
    tokenInputs: list[TokenTransfer] = []
    tokenOutputs: list[TokenTransfer] = []
    programInfo: dict[str, Any] | None = None

    @field_validator("tokenInputs", "tokenOutputs", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _list(value)


class SwapEvent(_Model):
    nativeInput: NativeAmount | None = None
    nativeOutput: NativeAmount | None = None
    tokenInputs: list[TokenBalanceChange] = []
    tokenOutputs: list[TokenBalanceChange] = []
    innerSwaps: list[InnerSwap] = []

    @field_validator("tokenInputs", "tokenOutputs", "innerSwaps", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _list(value)


class Events(_Model):
    model_config = ConfigDict(extra="allow", frozen=True)
    swap: SwapEvent | None = None


class EnhancedTransaction(_Model):
    signature: str = Field(min_length=64, max_length=90)
    slot: int = Field(ge=0)
    timestamp: int = Field(gt=0)
    type: str = "UNKNOWN"
    source: str = "UNKNOWN"
    fee: int = Field(ge=0)
    feePayer: str = Field(min_length=32, max_length=44)
    description: str | None = None
    transactionError: Any = None
    nativeTransfers: list[NativeTransfer] = []
    tokenTransfers: list[TokenTransfer] = []
    accountData: list[AccountData] = []
    events: Events = Events()

    @field_validator("nativeTransfers", "tokenTransfers", "accountData", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _list(value)

    @field_validator("fee", mode="before")
    @classmethod
    def _fee(cls, value: Any) -> int:
        return _lamports(value)

    @field_validator("signature", "feePayer")
    @classmethod
    def _base58(cls, value: str) -> str:
        if not _BASE58.match(value):
            raise ValueError("is not base58")
        return value

    @field_validator("type", "source", mode="before")
    @classmethod
    def _label(cls, value: Any) -> str:
        return str(value or "UNKNOWN")

    @field_validator("events", mode="before")
    @classmethod
    def _events(cls, value: Any) -> Any:
        return value or {}

    @property
    def failed(self) -> bool:
        return self.transactionError is not None

    def event_names(self) -> list[str]:
        names = [k for k, v in (self.events.model_extra or {}).items() if v not in (None, {}, [])]
        return sorted(names + (["swap"] if self.events.swap is not None else []))
