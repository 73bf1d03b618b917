"""Validation at the boundary: each record parsed by a pydantic model; failures are kept, never dropped."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cryptoflow.secrets import redact_text

M = TypeVar("M", bound=BaseModel)
DEFAULT_MAX_REJECT_RATIO = 0.05


class TooManyRejected(ValueError):
    pass


def describe_error(exc: ValidationError) -> str:
    """A short reason: which fields and why, e.g. ``close: Input should be a valid number``."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "record"
        parts.append(f"{where}: {err.get('msg')}")
    return "; ".join(parts)


@dataclass
class Rejections:
    """The records a dataset rejected in one run, with the reason for each."""

    items: list[tuple[str, Any]] = field(default_factory=list)
    seen: int = 0

    def add(self, record: Any, reason: str) -> None:
        self.items.append((redact_text(reason), record))

    def __len__(self) -> int:
        return len(self.items)

    def validate(self, records: Iterable[Any], model: type[M], context: dict | None = None) -> list[M]:
        """The records that ``model`` accepts; the others are added here with the reason."""
        valid = []
        for record in records:
            self.seen += 1
            try:
                valid.append(model.model_validate(record, context=context))
            except ValidationError as exc:
                self.add(record, f"{model.__name__}: {describe_error(exc)}")
        return valid

    def check_ratio(self, total: int, max_ratio: float, what: str) -> None:
        if total and len(self) / total > max_ratio:
            sample = "; ".join(reason for reason, _ in self.items[:3])
            raise TooManyRejected(
                f"{what}: {len(self)} of {total} records rejected ({len(self) / total:.1%} > {max_ratio:.0%} allowed); "
                f"nothing was loaded. First reasons: {sample}. See rejected_records for all of them.")
