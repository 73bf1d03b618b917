"""Records of the Artemis metrics answer, validated at the boundary."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}(T00:00(:00(\.0+)?)?(Z|[+-]00:?00)?)?$")


def parse_day(value: Any) -> dt.date:
    """A ``YYYY-MM-DD`` day (a midnight UTC timestamp string is accepted too); ValueError otherwise."""
    if not isinstance(value, str) or not _DAY.match(value.strip()):
        raise ValueError(f"expected a day as 'YYYY-MM-DD', got {value!r}")
    return dt.date.fromisoformat(value.strip()[:10])


class ArtemisPoint(BaseModel):
    """One day of one metric of one symbol: ``{"date": "2026-11-05", "val": 42000.0}`` under its symbol and metric.

    ``val`` may come as a number or a numeric string (both seen in the wild); anything else is rejected.
    """

    model_config = ConfigDict(frozen=True)

    symbol: str
    metric: str
    date: dt.date
    val: Decimal

    @field_validator("date", mode="before")
    @classmethod
    def _day(cls, value: Any) -> dt.date:
        return parse_day(value)

    @field_validator("val", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Decimal:
        if isinstance(value, bool) or value is None:
            raise ValueError(f"expected a number, got {value!r}")
        if isinstance(value, int | float | Decimal):
            number = Decimal(str(value))
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise ValueError(f"expected a number, got the string {value[:80]!r}") from None
        else:
            raise ValueError(f"expected a number, got {type(value).__name__}")
        if not number.is_finite():
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
