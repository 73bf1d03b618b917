"""Failure and deadline alerts, sent to whichever of ``alerts_slack``, ``alerts_webhook``, ``smtp_default`` exist.

Every message says which DAG, task and data interval, which try, what went wrong (secrets removed), where the log
is, and what to do about it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptoflow.secrets import redact_text

log = logging.getLogger(__name__)

SLACK_CONN_ID = "alerts_slack"
WEBHOOK_CONN_ID = "alerts_webhook"
SMTP_CONN_ID = "smtp_default"
CONFIG_SECTION = "cryptoflow"
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def config_variable(option: str) -> str:
    """The environment variable that sets ``[cryptoflow] <option>``."""
    return f"AIRFLOW__{CONFIG_SECTION.upper()}__{option.upper()}"


def configured(option: str) -> str | None:
    """``[cryptoflow] <option>`` from the environment (``AIRFLOW__CRYPTOFLOW__<OPTION>``) or ``airflow.cfg``; None
    when unset. Reads no database and no Variable, so DAG files may use it while they are parsed."""
    from airflow.sdk import conf

    value = conf.get(CONFIG_SECTION, option.lower(), fallback=None)
    return value.strip() if value and value.strip() else None


def parse_duration(text: str, option: str) -> timedelta:
    """``20`` (minutes), ``90s``, ``20m``, ``2h``, ``1d``, ``1h30m``: a positive duration, or a ValueError naming the
    setting."""
    value = text.strip().lower().replace(" ", "")
    match = _DURATION.fullmatch(value)
    if value.isdigit():
        duration = timedelta(minutes=int(value))
    elif value and match:
        days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        duration = None
    if not duration:
        raise ValueError(
            f"{config_variable(option)}={text!r} is not a positive duration: give minutes (20) or a number with a "
            f"unit (90s, 20m, 2h, 1d, 1h30m). Set it in the environment or as {option.lower()} in the "
            f"[{CONFIG_SECTION}] section of airflow.cfg.")
    return duration


def configured_duration(option: str, default: timedelta | None, *, allow_off: bool = False) -> timedelta | None:
    """A duration setting, ``default`` when unset; ``off`` gives None where ``allow_off``."""
    value = configured(option)
    if value is None:
        return default
    if allow_off and value.lower() in ("off", "none", "disabled"):
        return None
    return parse_duration(value, option)


def configured_deadline(dag_id: str, default: timedelta) -> timedelta:
    """How long a run of ``dag_id`` may take before it is late: ``AIRFLOW__CRYPTOFLOW__DEADLINE_<DAG_ID>`` (or
    ``deadline_<dag_id>`` in ``[cryptoflow]`` of airflow.cfg), else ``default``."""
    return configured_duration(f"deadline_{dag_id}", default)


@dataclass
class Alert:
    title: str
    fields: dict[str, Any] = field(default_factory=dict)
    action: str = ""
    kind: str = "task_failed"

    @property
    def text(self) -> str:
        lines = [self.title, *(f"{k}: {v}" for k, v in self.fields.items() if v not in (None, ""))]
        if self.action:
            lines.append(f"What to do: {self.action}")
        return redact_text("\n".join(lines))

    def payload(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": redact_text(self.title), "text": self.text,
                "fields": {k: redact_text(v) for k, v in self.fields.items() if v is not None},
                "action": self.action}


def _connection_exists(conn_id: str) -> bool:
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        BaseHook.get_connection(conn_id)
    except (AirflowNotFoundException, Exception):  # noqa: BLE001 - a broken secrets backend must not hide the alert
        return False
    return True


def send_alert(alert: Alert) -> list[str]:
    """Send ``alert`` to every configured channel; returns the channels it reached. Never raises."""
    reached = []
    channels = ((SLACK_CONN_ID, _send_slack), (WEBHOOK_CONN_ID, _send_webhook), (SMTP_CONN_ID, _send_email))
    for conn_id, sender in channels:
        if not _connection_exists(conn_id):
            continue
        try:
            sender(conn_id, alert)
            reached.append(conn_id)
        except Exception as exc:  # noqa: BLE001 - one broken channel must not stop the others
            log.error("alert to %s failed: %s", conn_id, redact_text(exc))
    if not reached:
        log.warning("no alert channel reached (configure %s, %s or %s): %s", SLACK_CONN_ID, WEBHOOK_CONN_ID,
                    SMTP_CONN_ID, alert.text)
    return reached


def _send_slack(conn_id: str, alert: Alert) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    SlackWebhookHook(slack_webhook_conn_id=conn_id).send(text=alert.text)


def _send_webhook(conn_id: str, alert: Alert) -> None:
    from airflow.providers.http.hooks.http import HttpHook

    hook = HttpHook(method="POST", http_conn_id=conn_id)
    endpoint = hook.get_connection(conn_id).extra_dejson.get("endpoint", "")
    hook.run(endpoint=endpoint, json=alert.payload(), extra_options={"timeout": 10})


def _send_email(conn_id: str, alert: Alert) -> None:
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=conn_id) as smtp:
        to = smtp.get_connection(conn_id).extra_dejson.get("alerts_to") or smtp.from_email
        smtp.send_email_smtp(to=to, subject=f"[cryptoflow] {alert.title}", html_content=f"<pre>{alert.text}</pre>")


def _what_to_do(exc: BaseException | None) -> str:
    name = type(exc).__name__ if exc else ""
    if name == "ApiKeyRejected":
        return "the API key was refused: rotate it (README, 'Rotate an API key') and clear the task."
    if name == "TooManyRejected":
        return "the source changed shape or sent bad data: read rejected_records for this interval, fix the parser " \
               "or the config, then clear the task."
    if name in ("ApiUnavailable", "MalformedResponse"):
        return "the API kept failing after retries: check its status page; Airflow retries the task, or clear it " \
               "later. Backfills pick the interval up once it succeeds."
    if name in ("OperationalError", "InterfaceError"):
        return "the warehouse database was unreachable: check PostgreSQL, then clear the task."
    if name == "DataQualityCheckFailed":
        return "a data-quality check failed on the rows named in the error (all results: check_results): fix the " \
               "data or what loaded it as the error says, then clear this check task (not retried: a re-run finds " \
               "the same rows). A threshold that is wrong goes in the Variable cryptoflow_checks."
    if name == "CheckConfigError":
        return "the Variable cryptoflow_checks is wrong: fix it as the error says (Admin > Variables), clear the task."
    return "read the log, fix the cause, then clear the task to re-run this interval (re-runs are safe)."


def task_failure_alert(context: dict) -> None:
    """``on_failure_callback`` for every task (through ``default_args``): pages once per incident of the task
    (``cryptoflow.task_incidents``), or of the source when its API key was rejected."""
    ti = context.get("ti") or context.get("task_instance")
    exc = context.get("exception")
    dag_run = context.get("dag_run")
    alert = Alert(
        title=f"cryptoflow: task failed: {ti.dag_id}.{ti.task_id}",
        fields={
            "DAG": ti.dag_id,
            "Task": ti.task_id,
            "Run": context.get("run_id"),
            "Interval": f"{context.get('data_interval_start')} -> {context.get('data_interval_end')}",
            "Try": f"{ti.try_number} of {getattr(ti, 'max_tries', 0) + 1}" if getattr(ti, "max_tries", None)
            is not None else ti.try_number,
            "Error": f"{type(exc).__name__}: {redact_text(exc)}" if exc else "(no exception)",
            "Log": getattr(ti, "log_url", None),
            "Run type": getattr(dag_run, "run_type", None),
        },
        action=_what_to_do(exc),
    )
    source = getattr(context.get("task"), "source", None)
    if type(exc).__name__ == "ApiKeyRejected" and source:
        from cryptoflow.watchdog import page_rejected_key

        # one page per rejected key (an incident), not one per failing task
        if page_rejected_key(source, getattr(context.get("task"), "dataset", None), alert):
            return
        send_alert(alert)
        return
    from cryptoflow.task_incidents import page_failure

    # one page per failing task (an incident), not one per failed run
    if not page_failure(context, alert):
        send_alert(alert)


def task_success_resolve(context: dict) -> None:
    """``on_success_callback`` for every task (through ``default_args``): resolves the task's failure incident, if
    one is open, with a "resolved" message. Never raises: a bookkeeping problem must not touch the task."""
    try:
        from cryptoflow.task_incidents import resolve_on_success

        resolve_on_success(context)
    except Exception as exc:  # noqa: BLE001
        ti = context.get("ti") or context.get("task_instance")
        log.warning("could not resolve the failure incident of %s.%s (%s: %s)", getattr(ti, "dag_id", "?"),
                    getattr(ti, "task_id", "?"), type(exc).__name__, redact_text(exc))


async def deadline_missed_alert(dag_label: str = "", expected_within: str = "", context: dict | None = None,
                                **_: Any) -> None:
    """Deadline alert callback (runs in the triggerer): the run is late."""
    dag_run = (context or {}).get("dag_run") or {}
    deadline = (context or {}).get("deadline") or {}
    alert = Alert(
        kind="deadline_missed",
        title=f"cryptoflow: run late: {dag_run.get('dag_id', dag_label)}",
        fields={
            "DAG": dag_run.get("dag_id", dag_label),
            "Run": dag_run.get("dag_run_id"),
            "Interval": f"{dag_run.get('data_interval_start')} -> {dag_run.get('data_interval_end')}",
            "State": dag_run.get("state"),
            "Deadline": deadline.get("deadline_time"),
            "Expected within": expected_within,
        },
        action="the run has not finished in time: open the run in the UI; a queued run means the scheduler or "
               "pool is saturated, a running task means a slow API (see pulls latency), a failed task has its own "
               "alert.",
    )
    dag_id = dag_run.get("dag_id") or dag_label
    if dag_id:
        from cryptoflow.watchdog import page_late_run

        # one page per stuck DAG (an incident), not one per late run
        if await asyncio.to_thread(page_late_run, dag_id, alert, interval=_interval_length(dag_run),
                                   run_id=dag_run.get("dag_run_id")):
            return
    await asyncio.to_thread(send_alert, alert)


def _interval_length(dag_run: dict) -> timedelta | None:
    try:
        start, end = (datetime.fromisoformat(str(dag_run[k])) for k in ("data_interval_start", "data_interval_end"))
    except (KeyError, TypeError, ValueError):
        return None
    return end - start if end > start else None


def deadline_alert(after: timedelta, dag_label: str = ""):
    """The DAG's deadline (Airflow 3's replacement for SLAs): alert when a run is not done ``after`` it was queued.

    ``dag_label`` is the DAG id; ``AIRFLOW__CRYPTOFLOW__DEADLINE_<DAG_ID>`` overrides ``after`` (see
    ``configured_deadline``), read when the DAG file is parsed.
    """
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    if dag_label:
        after = configured_deadline(dag_label, after)
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=after,
        callback=AsyncCallback(deadline_missed_alert,
                               kwargs={"dag_label": dag_label, "expected_within": str(after)}),
        name=f"{dag_label or 'run'} late after {after}",
    )
