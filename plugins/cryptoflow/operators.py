"""Operators: each holds templated arguments and an ``execute`` that calls package code."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException


def parse_interval_bound(value: Any) -> datetime | None:
    """A rendered ``{{ data_interval_start }}`` as an aware datetime; None when the run has no interval."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise AirflowFailException(f"interval bound {value!r} has no time zone")
    return parsed


class IngestDatasetOperator(BaseOperator):
    """Fetch, validate, load and log one dataset of a source for the run's data interval."""

    template_fields: Sequence[str] = ("interval_start", "interval_end", "conn_id")
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        source: str,
        dataset: str,
        interval_start: str = "{{ data_interval_start }}",
        interval_end: str = "{{ data_interval_end }}",
        conn_id: str | None = None,
        warehouse_conn_id: str = "warehouse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.dataset = dataset
        self.interval_start = interval_start
        self.interval_end = interval_end
        self.conn_id = conn_id
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context) -> dict[str, Any]:
        from cryptoflow.ingest import run_dataset
        from cryptoflow.sources import get_dataset

        ti = context["ti"]
        result = run_dataset(
            get_dataset(self.source, self.dataset),
            parse_interval_bound(self.interval_start),
            parse_interval_bound(self.interval_end),
            dag_id=ti.dag_id, task_id=ti.task_id, run_id=context["run_id"], try_number=ti.try_number,
            conn_id=self.conn_id, warehouse_conn_id=self.warehouse_conn_id,
        )
        return result.as_dict()
