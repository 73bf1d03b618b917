"""Task failures as incidents: a task that keeps failing pages once, not once per failed run.

The incident of a task is ``<dag_id>.<task_id>`` (kind ``task_failed`` in ``alert_incidents``). Backfill runs have
their own, ``<dag_id>.<task_id> (backfill)``: a backfill of a range the API cannot serve and the live runs that
succeed meanwhile must not close and reopen each other's incident every few minutes.

* The first final failure (after the retries: ``on_failure_callback``) opens the incident and pages with the whole
  failure alert. Later failures while it is open page no more; they are counted (``occurrences``), and the latest
  one's interval, error and message kept (``details``, ``last_message``).
* A success of the task (``on_success_callback``) for the latest data interval that failed, or a later one, resolves
  it with one "resolved" message; a failure after that is a new incident and pages. A success of an *older* interval
  does not resolve it: in a backfill or a catch-up, older intervals succeeding say nothing about the newest one that
  failed. A success in a live run does not resolve a backfill incident (nor the reverse: a failed scheduled run
  re-run by a backfill with ``reprocess_behavior`` becomes a backfill run; the next live success resolves).
* An incident that saw no failure for ``task_failure_repage_after`` (default 12 h, ``off`` to keep it open) is closed
  quietly by the next failure, which pages again: a success that went unnoticed (a task marked success by hand, a
  backfill left failed) cannot silence the task's failures for good.
* When the incident store (the warehouse) cannot be used, the failure pages anyway, without the incident.

The success callback runs after every successful task, so it asks the warehouse only when an incident could be open:
this is not the task instance's first try (a retry, or a failed task cleared and run again), or Airflow has a failed
instance of the task at an earlier logical date (one indexed query Airflow answers for any task). Otherwise it opens
no connection at all; when it asks, it is one UPDATE through the index of open incidents.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from cryptoflow import incidents
from cryptoflow.alerts import Alert, config_variable, configured_duration, send_alert
from cryptoflow.incidents import TASK_FAILED, Outcome, Sender
from cryptoflow.paths import read_sql
from cryptoflow.watchdog import human

log = logging.getLogger(__name__)

OBSERVE_SQL = "watchdog/task_failure_observe.sql"
RESOLVE_SQL = "watchdog/task_failure_resolve.sql"
EXPIRE_SQL = "watchdog/task_failure_expire.sql"
REPAGE_AFTER_OPTION = "task_failure_repage_after"
DEFAULT_REPAGE_AFTER = timedelta(hours=12)
_INCIDENT_FIELDS = ("Incident", "Not paged again", "Previous incident")


def subject(dag_id: str, task_id: str, *, backfill: bool) -> str:
    return f"{dag_id}.{task_id}{' (backfill)' if backfill else ''}"


def _ti(context: dict) -> Any:
    return context.get("ti") or context.get("task_instance")


def _is_backfill(context: dict) -> bool:
    run_type = getattr(context.get("dag_run"), "run_type", None)
    return getattr(run_type, "value", run_type) == "backfill"


def _utc(value: Any) -> datetime | None:
    """An aware datetime (pendulum's too) as a plain UTC datetime, for psycopg."""
    return datetime.fromtimestamp(value.timestamp(), tz=UTC) if isinstance(value, datetime) else None


def _interval(context: dict) -> str:
    return f"{context.get('data_interval_start')} -> {context.get('data_interval_end')}"


def repage_after() -> timedelta | None:
    """``[cryptoflow] task_failure_repage_after``; a bad value is logged and the default used (a page must not be
    lost to a typo in a setting)."""
    try:
        return configured_duration(REPAGE_AFTER_OPTION, DEFAULT_REPAGE_AFTER, allow_off=True)
    except ValueError as exc:
        log.error("%s; using %s", exc, DEFAULT_REPAGE_AFTER)
        return DEFAULT_REPAGE_AFTER


# -- failure -------------------------------------------------------------------------------------------------------
def page_failure(context: dict, alert: Alert, *, send: Sender = send_alert) -> bool:
    """A task failed for good: page ``alert`` through the task's incident (once while it is open). False when the
    incident store cannot be used and nothing was sent: the caller then pages without it."""
    ti = _ti(context)
    backfill = _is_backfill(context)
    name = subject(ti.dag_id, ti.task_id, backfill=backfill)
    now = datetime.now(UTC)
    failed_through = _utc(context.get("data_interval_end")) or now
    details = {"dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": context.get("run_id"),
               "run_type": "backfill" if backfill else "live", "interval": _interval(context),
               "try": alert.fields.get("Try"), "error": alert.fields.get("Error"), "log": alert.fields.get("Log"),
               "failed_through": failed_through}
    quiet = repage_after()

    def record(conn: psycopg.Connection, page: Sender) -> None:
        if quiet is not None:
            expired = conn.execute(read_sql(EXPIRE_SQL), {"kind": TASK_FAILED, "subject": name, "at": now,
                                                          "repage_after": quiet}).fetchone()
            if expired:
                incident_id, opened_at, last_seen_at, occurrences = expired
                alert.fields["Previous incident"] = (
                    f"#{incident_id}, {occurrences} failures from {opened_at:%Y-%m-%d %H:%M} to "
                    f"{last_seen_at:%Y-%m-%d %H:%M} UTC: closed, no failure for {human(quiet)} "
                    f"({config_variable(REPAGE_AFTER_OPTION)})")
        alert.fields["Not paged again"] = (
            f"later failures of {ti.task_id} in {'backfill' if backfill else 'live'} runs of {ti.dag_id} while "
            "this incident is open (counted in alert_incidents); it resolves, with a message, when the task "
            "succeeds for the latest interval that failed or a later one")
        incidents.observe(conn, kind=TASK_FAILED, subject=name, at=now, alert=alert, opened_by="task_failure",
                          details=details, send=page, sql=OBSERVE_SQL)

    paged = incidents.page_through_store(name, record, send=send)
    if not paged:   # the caller pages without the incident: no incident fields in that message
        for field_name in _INCIDENT_FIELDS:
            alert.fields.pop(field_name, None)
    return paged


# -- success -------------------------------------------------------------------------------------------------------
def incident_could_be_open(ti: Any) -> bool:
    """Whether this task's failure incident may be open, answered without the warehouse: not the first try of this
    task instance (a retry, or a cleared failed task), or a failed instance of the task at an earlier logical date.
    True when Airflow cannot say."""
    try:
        if (ti.try_number or 1) > 1:
            return True
        from airflow.sdk import TaskInstanceState

        return ti.get_previous_ti(state=TaskInstanceState.FAILED, map_index=getattr(ti, "map_index", -1)) is not None
    except Exception as exc:  # noqa: BLE001 - unsure: ask the warehouse
        log.info("could not ask Airflow for earlier failures of %s (%s): asking the warehouse",
                 getattr(ti, "task_id", "?"), exc)
        return True


def resolved_alert(context: dict, name: str) -> Alert:
    ti = _ti(context)
    return Alert(
        kind=f"{TASK_FAILED}_resolved",
        title=f"cryptoflow: resolved: task failed: {name}",
        fields={"DAG": ti.dag_id, "Task": ti.task_id,
                "Now": f"succeeded for {_interval(context)} (run {context.get('run_id')}, try {ti.try_number})",
                "Log": getattr(ti, "log_url", None)},
        action="nothing for the task now. Intervals that failed while the incident was open stay failed until "
               "cleared: find them in the DAG's grid (or alert_incidents.details) and clear them.")


def resolve_on_success(context: dict, *, send: Sender = send_alert) -> Outcome | None:
    """A task succeeded: resolve its failure incident if this run's interval is the latest that failed or later,
    with one "resolved" message. No warehouse connection when no incident could be open."""
    ti = _ti(context)
    if not incident_could_be_open(ti):
        return None
    name = subject(ti.dag_id, ti.task_id, backfill=_is_backfill(context))
    now = datetime.now(UTC)
    through = _utc(context.get("data_interval_end")) or now
    with incidents.store() as conn:
        return incidents.resolve(conn, kind=TASK_FAILED, subject=name, at=now,
                                 alert_for=lambda _incident: resolved_alert(context, name), send=send,
                                 sql=RESOLVE_SQL, params={"through": through})
