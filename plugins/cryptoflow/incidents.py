"""Alert incidents (``alert_incidents``): a condition pages once when it opens, stays quiet while it lasts, and sends
one "resolved" message when it clears; if it comes back after that, it is a new incident and pages again.

The opening message is sent inside the transaction that holds the incident's row, and marked delivered before the
commit, so concurrent observers of the same condition (watchdog runs, failure callbacks of parallel tasks) page once.
An opening message that reached no channel is retried by the next observation while the incident is open; a
resolved message is sent only when the opening one went out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from cryptoflow.alerts import Alert, send_alert
from cryptoflow.paths import read_sql
from cryptoflow.secrets import redact_text
from cryptoflow.warehouse import as_jsonb

log = logging.getLogger(__name__)

SOURCE_SILENT = "source_silent"
API_ERROR_RATE = "api_error_rate"
API_KEY_REJECTED = "api_key_rejected"
DEADLINE_MISSED = "deadline_missed"
STORE_CONNECT_TIMEOUT_S = 10     # a callback waits this long for the warehouse, then pages without it
TASK_FAILED = "task_failed"
KINDS = (SOURCE_SILENT, API_ERROR_RATE, API_KEY_REJECTED, DEADLINE_MISSED, TASK_FAILED)

Sender = Callable[[Alert], list[str]]


@dataclass
class Outcome:
    """What one observation or resolution did to an incident."""

    incident_id: int
    kind: str
    subject: str
    event: str          # 'opened', 'ongoing', 'resolved'
    sent: bool          # a message reached a channel
    channels: list[str]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _fmt(ts: datetime) -> str:
    return f"{ts:%Y-%m-%d %H:%M} UTC"


def observe(conn: psycopg.Connection, *, kind: str, subject: str, at: datetime, alert: Alert, opened_by: str,
            details: dict[str, Any] | None = None, send: Sender = send_alert,
            sql: str = "watchdog/incident_observe.sql") -> Outcome:
    """The condition holds at ``at``: open its incident and page, or leave the open one quiet.

    ``sql``: the statement that opens or updates the row (same parameters and columns as the default's)."""
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(read_sql(sql), {
            "kind": kind, "subject": subject, "at": at, "opened_by": opened_by,
            "message": redact_text(alert.text)[:4000], "details": as_jsonb(details or {})}).fetchone()
        incident_id, opened_at, _last_seen, occurrences, notified_at, opened = row
        event = "opened" if opened else "ongoing"
        if notified_at is not None:
            log.info("%s %s: incident #%d open since %s, already paged (seen %d times): not sent again", kind,
                     subject, incident_id, _fmt(opened_at), occurrences)
            return Outcome(incident_id, kind, subject, event, False, [])
        alert.fields["Incident"] = f"#{incident_id}, open since {_fmt(opened_at)}: paged once, not again while open"
        channels = send(alert)
        if channels:
            cur.execute("UPDATE alert_incidents SET notified_at = now(), alerts_sent = alerts_sent + 1 WHERE id = %s",
                        (incident_id,))
        else:
            log.warning("%s %s: incident #%d reached no channel; the next observation retries", kind, subject,
                        incident_id)
        return Outcome(incident_id, kind, subject, event, bool(channels), channels)


def resolve(conn: psycopg.Connection, *, kind: str, subject: str, at: datetime, alert_for: Callable[[dict], Alert],
            send: Sender = send_alert, sql: str = "watchdog/incident_resolve.sql",
            params: dict[str, Any] | None = None) -> Outcome | None:
    """The condition no longer holds at ``at``: resolve its open incident (if any) and say so where it paged.

    ``alert_for`` builds the resolved message from the incident (``id``, ``opened_at``, ``occurrences``, ...).
    ``sql`` and ``params``: another statement that resolves the row (same columns as the default's), with more
    parameters."""
    with conn.transaction(), conn.cursor() as cur:
        row = cur.execute(read_sql(sql), {"kind": kind, "subject": subject, "at": at, **(params or {})}).fetchone()
        if row is None:
            return None
        incident = dict(zip(("id", "opened_at", "last_seen_at", "occurrences", "notified_at"), row, strict=True))
        incident["resolved_at"] = at
        if incident["notified_at"] is None:
            log.info("%s %s: incident #%d resolved before any message reached a channel: nothing to send", kind,
                     subject, incident["id"])
            return Outcome(incident["id"], kind, subject, "resolved", False, [])
        alert = alert_for(incident)
        alert.fields["Incident"] = (f"#{incident['id']}, open {_fmt(incident['opened_at'])} to {_fmt(at)} "
                                    f"({at - incident['opened_at']}), seen {incident['occurrences']} times")
        channels = send(alert)
        if channels:
            cur.execute("UPDATE alert_incidents SET resolved_notified_at = now(), alerts_sent = alerts_sent + 1 "
                        "WHERE id = %s", (incident["id"],))
        return Outcome(incident["id"], kind, subject, "resolved", bool(channels), channels)


def open_subjects(conn: psycopg.Connection, kind: str) -> set[str]:
    rows = conn.execute("SELECT subject FROM alert_incidents WHERE kind = %s AND resolved_at IS NULL", (kind,))
    return {r[0] for r in rows}


@contextmanager
def store() -> Iterator[psycopg.Connection]:
    """An autocommit connection to the warehouse, given at most ``STORE_CONNECT_TIMEOUT_S`` to connect (unless the
    connection's extra sets ``connect_timeout``): a callback must not hold a page for minutes on an unreachable
    host."""
    from cryptoflow import warehouse

    set_timeout = "PGCONNECT_TIMEOUT" not in os.environ
    if set_timeout:
        os.environ["PGCONNECT_TIMEOUT"] = str(STORE_CONNECT_TIMEOUT_S)
    try:
        conn = warehouse.connect()
    finally:
        if set_timeout:
            os.environ.pop("PGCONNECT_TIMEOUT", None)
    with conn:
        conn.autocommit = True
        yield conn


def page_through_store(what: str, record: Callable[[psycopg.Connection, Sender], None], *,
                       send: Sender = send_alert) -> bool:
    """A failure callback's page through its incident: ``record(conn, page)`` observes the incident on the incident
    store, sending the page with ``page`` (resolutions it makes on the way use ``send`` directly). True when that
    worked. When the store fails, the error is logged and the answer is whether the page went out before it: False
    tells the caller to page without the bookkeeping."""
    sent: list[Alert] = []

    def page(alert: Alert) -> list[str]:
        sent.append(alert)
        return send(alert)

    try:
        with store() as conn:
            record(conn, page)
        return True
    except Exception as exc:  # noqa: BLE001 - the page must not be lost to a bookkeeping problem
        log.error("incident bookkeeping for %s failed (%s: %s)%s", what, type(exc).__name__, redact_text(exc),
                  "" if sent else "; paging without it")
        return bool(sent)
