"""The watchdog: the conditions that page on-call besides failed tasks and late runs, judged from the warehouse as of
one moment (the watchdog DAG run's interval end), each de-duplicated as an incident (``cryptoflow.incidents``).

* **source silent**: a feed has delivered no records for longer than its threshold. A pull-based feed (a source's
  DAG) delivers when a pull of one of its live runs (not a backfill) succeeds with records fetched; the live trade
  stream delivers when it writes trades. A feed whose latest run skipped every dataset has no API key configured and
  is not watched (the skip is deliberate and says which variable to set); nor is one that never ran.
* **API error rate**: more than 10% of a source's API calls in the last hour failed (HTTP errors, 429s, timeouts;
  every attempt counts), once it made at least 20 calls.
* **API key rejected**: a dataset's latest pull that says anything about the key failed with ``ApiKeyRejected``. A
  later pull with API calls that succeeds (the key works) or skips (no key any more) clears it. A failing task with a
  rejected key opens the same incident (``page_rejected_key``), so five failing tasks page once.
* **run late**: opened by the DAGs' deadline callbacks (``page_late_run``), so a stuck 5-minute DAG pages once, not
  for every late run; the watchdog resolves it once no run of the DAG was late for ``late_quiet_period``.

Thresholds are ``[cryptoflow]`` settings (``AIRFLOW__CRYPTOFLOW__<OPTION>``): see ``Settings.from_config`` and the
README, "Alerts and what to do".
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from cryptoflow import incidents
from cryptoflow.alerts import Alert, config_variable, configured, configured_duration, send_alert
from cryptoflow.incidents import API_ERROR_RATE, API_KEY_REJECTED, DEADLINE_MISSED, SOURCE_SILENT, Outcome, Sender
from cryptoflow.paths import read_sql
from cryptoflow.warehouse import as_jsonb

log = logging.getLogger(__name__)

RUNBOOK = "README, 'Alerts and what to do'"
STREAM = "pumpportal"                            # stream_status.stream of the live trade stream
STREAM_TRADE_SOURCES = ("pumpportal", "pumpfun")  # trades.source of the trades it delivers
EVALUATIONS_KEPT = timedelta(days=7)
STREAM_LOOKBACK = timedelta(hours=1)             # at least this far back for the stream's newest trade


@dataclass(frozen=True)
class Feed:
    """Something that should keep delivering: a source's DAG, or the live trade stream."""

    name: str                 # the incident subject: the DAG id, or 'trade_stream'
    source: str
    cadence: str
    silent_after: timedelta   # default threshold
    stream: bool = False


FEEDS = (
    Feed("helius_5min", "helius", "every 5 minutes", timedelta(minutes=5)),
    Feed("birdeye_5min", "birdeye", "every 5 minutes", timedelta(minutes=5)),
    Feed("trade_stream", STREAM, "continuous", timedelta(minutes=5), stream=True),
    Feed("defillama_hourly", "defillama", "hourly", timedelta(hours=1, minutes=45)),
    Feed("defillama_daily", "defillama", "daily", timedelta(hours=27)),
    Feed("artemis_daily", "artemis", "daily", timedelta(hours=27)),
)


def _configured_number(option: str, default: float, kind: type, low: float, high: float | None = None) -> Any:
    text = configured(option)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValueError(f"{config_variable(option)}={text!r} must be a {kind.__name__} {bounds}")
    return value


@dataclass(frozen=True)
class Settings:
    silent_after: dict[str, timedelta | None] = field(
        default_factory=lambda: {f.name: f.silent_after for f in FEEDS})   # None: not watched
    error_rate_threshold: float = 0.10
    error_rate_min_calls: int = 20
    error_rate_window: timedelta = timedelta(hours=1)
    key_lookback: timedelta = timedelta(days=7)
    late_quiet_after: timedelta = timedelta(hours=1)   # at least; two of the DAG's intervals when longer

    @classmethod
    def from_config(cls) -> Settings:
        """The defaults, overridden by ``[cryptoflow]`` options (``AIRFLOW__CRYPTOFLOW__<OPTION>``):
        ``silent_after_<feed>`` (a duration, or ``off``), ``error_rate_threshold`` (0.10), ``error_rate_min_calls``
        (20), ``error_rate_window`` (1h), ``late_quiet_after`` (1h)."""
        return cls(
            silent_after={f.name: configured_duration(f"silent_after_{f.name}", f.silent_after, allow_off=True)
                          for f in FEEDS},
            error_rate_threshold=_configured_number("error_rate_threshold", 0.10, float, 0.0, 1.0),
            error_rate_min_calls=_configured_number("error_rate_min_calls", 20, int, 1),
            error_rate_window=configured_duration("error_rate_window", timedelta(hours=1)),
            late_quiet_after=configured_duration("late_quiet_after", timedelta(hours=1)),
        )


@dataclass
class Finding:
    """What the watchdog saw about one (kind, subject): ``active`` means the condition holds."""

    kind: str
    subject: str
    active: bool
    state: str
    summary: str
    fields: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "active": self.active, "state": self.state,
                "summary": self.summary, "details": self.details}


def human(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h"


def _fmt(ts: datetime | None) -> str:
    return f"{ts:%Y-%m-%d %H:%M:%S} UTC" if ts else "never"


# -- conditions ---------------------------------------------------------------------------------------------------
def silent_feeds(conn: psycopg.Connection, as_of: datetime, settings: Settings) -> list[Finding]:
    pulled = {row[0]: row for row in conn.execute(read_sql("watchdog/feed_activity.sql"), {
        "dag_ids": [f.name for f in FEEDS if not f.stream], "as_of": as_of})}
    findings = []
    for feed in FEEDS:
        threshold = settings.silent_after.get(feed.name, feed.silent_after)
        variable = config_variable(f"silent_after_{feed.name}")
        looked_back_to = None
        if feed.stream:
            looked_back_to = as_of - max(3 * (threshold or feed.silent_after), STREAM_LOOKBACK)
            has_run, state, started_at, heartbeat_at, last_produced = conn.execute(
                read_sql("watchdog/stream_activity.sql"),
                {"stream": STREAM, "trade_sources": list(STREAM_TRADE_SOURCES), "as_of": as_of,
                 "since": looked_back_to}).fetchone()
            first_seen = started_at if has_run else None
            not_configured = False
            latest = f"stream {state}, last heartbeat {_fmt(heartbeat_at)}" if has_run else None
        else:
            _, last_produced, first_seen, latest_run_id, all_skipped, summary = pulled[feed.name]
            not_configured = bool(all_skipped)
            latest = f"{latest_run_id}: {summary}" if latest_run_id else None
        details = {"threshold_s": threshold.total_seconds() if threshold else None,
                   "last_produced_at": last_produced, "first_seen_at": first_seen, "latest": latest}
        if threshold is None:
            findings.append(Finding(SOURCE_SILENT, feed.name, False, "disabled", f"not watched ({variable}=off)",
                                    details=details))
            continue
        if first_seen is None:
            what = "the trade stream never ran against this warehouse" if feed.stream else \
                f"{feed.name} has no runs yet"
            findings.append(Finding(SOURCE_SILENT, feed.name, False, "never_ran", what, details=details))
            continue
        if not_configured:
            findings.append(Finding(SOURCE_SILENT, feed.name, False, "not_configured",
                                    f"{feed.source}: no API key configured, its latest run skipped: {latest}",
                                    details=details))
            continue
        looked_only_since = not last_produced and looked_back_to is not None and first_seen < looked_back_to
        since = last_produced or (looked_back_to if looked_only_since else first_seen)
        silent_for = max(as_of - since, timedelta(0))
        details["silent_for_s"] = silent_for.total_seconds()
        if last_produced:
            produced = f"{_fmt(last_produced)}, {human(silent_for)} before {_fmt(as_of)}"
        elif looked_only_since:
            produced = f"nothing in the {human(silent_for)} before {_fmt(as_of)} (not looked further back)"
        else:
            produced = f"never since its first run at {_fmt(first_seen)} ({human(silent_for)} before {_fmt(as_of)})"
        active = silent_for > threshold
        summary = (f"{feed.name} delivered nothing for {'at least ' if looked_only_since else ''}{human(silent_for)} "
                   f"(threshold {human(threshold)})" if active
                   else f"{feed.name} delivered records {human(silent_for)} before {_fmt(as_of)}")
        findings.append(Finding(
            SOURCE_SILENT, feed.name, active, "silent" if active else "producing", summary,
            fields={"Feed": f"{feed.name} ({feed.cadence}, source {feed.source})", "Last delivered": produced,
                    "Threshold": f"{human(threshold)} ({variable})", "Latest run": latest, "As of": _fmt(as_of)},
            details=details))
    return findings


def api_error_rates(conn: psycopg.Connection, as_of: datetime, settings: Settings) -> list[Finding]:
    window_start = as_of - settings.error_rate_window
    rows = {r[0]: r for r in conn.execute(read_sql("watchdog/api_error_rates.sql"),
                                          {"window_start": window_start, "as_of": as_of})}
    findings = []
    for source in sorted(set(rows) | incidents.open_subjects(conn, API_ERROR_RATE)):
        _, calls, errors, http_429s, pulls, latest_error = rows.get(source, (source, 0, 0, 0, 0, None))
        rate = errors / calls if calls else 0.0
        enough = calls >= settings.error_rate_min_calls
        active = enough and rate > settings.error_rate_threshold
        state = "high" if active else ("normal" if enough else "too_few_calls")
        window = f"{_fmt(window_start)} to {_fmt(as_of)}"
        summary = f"{source}: {errors} of {calls} API calls failed ({rate:.1%}, {http_429s} of them 429) from {window}"
        threshold = (f"above {settings.error_rate_threshold:.0%} with at least {settings.error_rate_min_calls} calls "
                     f"({config_variable('error_rate_threshold')}, {config_variable('error_rate_min_calls')})")
        findings.append(Finding(
            API_ERROR_RATE, source, active, state, summary,
            fields={"Source": source, "Error rate": f"{rate:.1%}: {errors} of {calls} API calls failed, "
                                                    f"{http_429s} of them HTTP 429, in {pulls} pulls",
                    "Window": window, "Threshold": threshold, "Latest error": latest_error, "As of": _fmt(as_of)},
            details={"api_calls": calls, "http_errors": errors, "http_429s": http_429s, "pulls": pulls,
                     "rate": rate}))
    return findings


def rejected_keys(conn: psycopg.Connection, as_of: datetime, settings: Settings) -> list[Finding]:
    rows = {r[0]: r for r in conn.execute(read_sql("watchdog/rejected_keys.sql"),
                                          {"since": as_of - settings.key_lookback, "as_of": as_of})}
    findings = []
    for source in sorted(set(rows) | incidents.open_subjects(conn, API_KEY_REJECTED)):
        _, datasets, latest_at, latest_error = rows.get(source, (source, [], None, None))
        active = bool(datasets)
        summary = (f"{source}: the API key was rejected ({', '.join(datasets)}) at {_fmt(latest_at)}" if active
                   else f"{source}: the latest pulls with API calls got through (or no key is configured)")
        findings.append(Finding(
            API_KEY_REJECTED, source, active, "rejected" if active else "accepted", summary,
            fields={"Source": source, "Datasets": ", ".join(datasets), "Latest rejection": _fmt(latest_at),
                    "Error": latest_error, "Key": key_setting(source), "As of": _fmt(as_of)},
            details={"datasets": list(datasets), "latest_rejection_at": latest_at}))
    return findings


def late_quiet_period(details: dict | None, settings: Settings) -> timedelta:
    """How long runs of a DAG must stay on time before its deadline incident resolves: ``late_quiet_after``, or two
    of the DAG's data intervals when that is longer (a stuck hourly DAG is late once an hour, and is not resolved
    in between)."""
    interval_s = (details or {}).get("interval_s")
    return max(settings.late_quiet_after, 2 * timedelta(seconds=interval_s)) if interval_s else \
        settings.late_quiet_after


def late_runs(conn: psycopg.Connection, as_of: datetime, settings: Settings) -> list[Finding]:
    """The open deadline incidents (opened by the deadline callbacks, see ``page_late_run``): still active while a
    run of the DAG missed its deadline within the quiet period, resolved after that."""
    findings = []
    rows = conn.execute("SELECT subject, last_seen_at, details FROM alert_incidents "
                        "WHERE kind = %s AND resolved_at IS NULL ORDER BY subject", (DEADLINE_MISSED,))
    for dag_id, last_late, details in rows:
        quiet = late_quiet_period(details, settings)
        since = max(as_of - last_late, timedelta(0))
        active = since <= quiet
        summary = (f"{dag_id}: a run missed its deadline {human(since)} before {_fmt(as_of)}" if active else
                   f"{dag_id}: no run missed its deadline since {_fmt(last_late)} ({human(since)}; resolved after "
                   f"{human(quiet)} without one)")
        findings.append(Finding(DEADLINE_MISSED, dag_id, active, "late" if active else "on_time", summary,
                                details={"last_late_at": last_late, "quiet_s": quiet.total_seconds()}))
    return findings


def evaluate(conn: psycopg.Connection, as_of: datetime, settings: Settings | None = None) -> list[Finding]:
    """Every condition, as of ``as_of`` (read-only)."""
    settings = settings or Settings()
    return [*silent_feeds(conn, as_of, settings), *api_error_rates(conn, as_of, settings),
            *rejected_keys(conn, as_of, settings), *late_runs(conn, as_of, settings)]


# -- messages -------------------------------------------------------------------------------------------------------
TITLES = {SOURCE_SILENT: "source silent", API_ERROR_RATE: "API error rate high", API_KEY_REJECTED: "API key rejected",
          DEADLINE_MISSED: "run late"}


def key_setting(source: str) -> str:
    return f"{source.upper()}_API_KEY in .env (or the password of Airflow connection '{source}')"


def what_to_do(finding: Finding) -> str:
    if finding.kind == SOURCE_SILENT and finding.subject == "trade_stream":
        return (f"{RUNBOOK}, 'Source silent': the live trade stream wrote no trades. Check .local/trade-stream.log "
                "and stream_status; restart it (make run starts it; docker compose: the trade-stream service). Its "
                "gaps are in stream_disconnects, to fill from Helius.")
    if finding.kind == SOURCE_SILENT:
        return (f"{RUNBOOK}, 'Source silent': open the DAG {finding.subject} in the Airflow UI. Paused: unpause it. "
                "Runs queued: the scheduler or a pool is stuck. Tasks failing: their alerts and pulls.error say why. "
                "Succeeding with no records: the API answers empty, check the provider. If the feed is legitimately "
                f"this quiet, raise {config_variable('silent_after_' + finding.subject)} (or set it to off).")
    if finding.kind == API_ERROR_RATE:
        return (f"{RUNBOOK}, 'API error rate': mostly 429s means requests outrun the plan's rate limit: lower "
                f"rate_limit_per_s or max_workers in the extra of Airflow connection '{finding.subject}', or run "
                "fewer backfill runs at once. 5xx or timeouts: the provider is degraded, check its status page; the "
                "tasks retry. Resolves when the last hour's rate is back under the threshold.")
    return (f"README, 'Rotate an API key': put a valid {key_setting(finding.subject)}, restart (make stop && make "
            "run), then clear the failed tasks. Resolves when a pull of this source gets through with API calls.")


def opening_alert(finding: Finding) -> Alert:
    return Alert(kind=finding.kind, title=f"cryptoflow: {TITLES[finding.kind]}: {finding.subject}",
                 fields=dict(finding.fields), action=what_to_do(finding))


def resolved_alert(finding: Finding) -> Alert:
    return Alert(kind=f"{finding.kind}_resolved",
                 title=f"cryptoflow: resolved: {TITLES[finding.kind]}: {finding.subject}",
                 fields={"Now": finding.summary}, action="nothing; the incident is closed.")


# -- running --------------------------------------------------------------------------------------------------------
def apply(conn: psycopg.Connection, findings: list[Finding], as_of: datetime, *,
          send: Sender = send_alert) -> list[Outcome]:
    """Open, continue or resolve the incident of every finding; page on opening and resolution only."""
    outcomes = []
    for finding in findings:
        if finding.active and finding.kind == DEADLINE_MISSED:
            continue    # seen by the deadline callbacks (page_late_run); the watchdog only resolves it
        if finding.active:
            outcome = incidents.observe(conn, kind=finding.kind, subject=finding.subject, at=as_of,
                                        alert=opening_alert(finding), opened_by="watchdog",
                                        details=finding.as_dict(), send=send)
        else:
            outcome = incidents.resolve(conn, kind=finding.kind, subject=finding.subject, at=as_of,
                                        alert_for=lambda _incident, f=finding: resolved_alert(f), send=send)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


class StaleEvaluation(Exception):
    """The moment to evaluate is older than what the watchdog already evaluated (or than ``max_lag``)."""


def run(conn: psycopg.Connection, as_of: datetime, *, run_id: str | None = None, settings: Settings | None = None,
        send: Sender = send_alert, now: datetime | None = None, max_lag: timedelta | None = None) -> dict[str, Any]:
    """Evaluate as of ``as_of``, update the incidents (paging where they open or resolve), record the evaluation.

    The watchdog is about the present: ``as_of`` older than the newest evaluation, or than ``now - max_lag``, raises
    ``StaleEvaluation`` instead of reopening or resolving incidents with stale knowledge. Re-evaluating the same
    ``as_of`` changes nothing. ``conn`` is switched to autocommit: every incident is its own transaction."""
    settings = settings or Settings.from_config()
    now = now or datetime.now(UTC)
    if max_lag is not None and as_of < now - max_lag:
        raise StaleEvaluation(f"the watchdog evaluates the present: {_fmt(as_of)} is more than {human(max_lag)} ago")
    if not conn.autocommit:
        conn.rollback()
        conn.autocommit = True
    newest = conn.execute("SELECT max(as_of) FROM watchdog_evaluations").fetchone()[0]
    if newest is not None and as_of < newest:
        raise StaleEvaluation(f"the watchdog already evaluated {_fmt(newest)}, after {_fmt(as_of)}")
    findings = evaluate(conn, as_of, settings)
    outcomes = apply(conn, findings, as_of, send=send)
    with conn.transaction():
        conn.execute(
            """INSERT INTO watchdog_evaluations (as_of, run_id, findings) VALUES (%s, %s, %s)
               ON CONFLICT (as_of) DO UPDATE SET run_id = excluded.run_id, evaluated_at = now(),
                                                 findings = excluded.findings""",
            (as_of, run_id, as_jsonb([f.as_dict() for f in findings])))
        conn.execute("DELETE FROM watchdog_evaluations WHERE as_of < %s", (as_of - EVALUATIONS_KEPT,))
    for finding in findings:
        log.log(logging.WARNING if finding.active else logging.INFO, "%s %s: %s: %s", finding.kind, finding.subject,
                finding.state, finding.summary)
    return {"as_of": as_of.isoformat(),
            "active": [f"{f.kind}:{f.subject}" for f in findings if f.active],
            "states": {f"{f.kind}:{f.subject}": f.state for f in findings},
            "outcomes": [o.as_dict() for o in outcomes]}


def run_task(data_interval_end: datetime | None, run_id: str | None) -> dict[str, Any]:
    """The watchdog DAG's task: as of the run's interval end (a manual run without one: now)."""
    from airflow.sdk.exceptions import AirflowSkipException

    from cryptoflow import warehouse

    as_of = data_interval_end or datetime.now(UTC).replace(microsecond=0)
    with warehouse.connect() as conn:
        try:
            return run(conn, as_of, run_id=run_id, max_lag=timedelta(hours=1))
        except StaleEvaluation as exc:
            raise AirflowSkipException(str(exc)) from exc


# -- failure callbacks ---------------------------------------------------------------------------------------------
def page_rejected_key(source: str, dataset: str | None, alert: Alert, *, send: Sender = send_alert) -> bool:
    """A task failed because ``source`` rejected its API key: page through the source's incident, so the failing
    tasks of one rejected key page once. False when the incident store cannot be used: the caller pages as usual."""

    now = datetime.now(UTC)

    def record(conn: psycopg.Connection, page: Sender) -> None:
        _close_if_key_worked_since(conn, source, dataset, send=send)
        alert.fields["Not paged again"] = (f"other tasks of {source} failing with this key, until a pull of "
                                           f"{source} gets through (the watchdog then sends 'resolved')")
        incidents.observe(conn, kind=API_KEY_REJECTED, subject=source, at=now, alert=alert,
                          opened_by="task_failure", details={"source": source, "dataset": dataset}, send=page)

    return incidents.page_through_store(source, record, send=send)


def page_late_run(dag_id: str, alert: Alert, *, interval: timedelta | None = None, run_id: str | None = None,
                  send: Sender = send_alert, settings: Settings | None = None) -> bool:
    """A run of ``dag_id`` missed its deadline: page through the DAG's deadline incident, so a stuck 5-minute DAG
    pages once, not once per run. The watchdog resolves it when no run was late for the quiet period
    (``late_quiet_period``). False when the incident store cannot be used: the caller pages as usual."""

    settings = settings or Settings.from_config()
    now = datetime.now(UTC)
    details = {"dag_id": dag_id, "run_id": run_id, "interval_s": interval.total_seconds() if interval else None}
    quiet = late_quiet_period(details, settings)

    def record(conn: psycopg.Connection, page: Sender) -> None:
        # the watchdog resolves these; without it, an incident from long ago must not silence this run
        for finding in late_runs(conn, now, settings):
            if finding.subject == dag_id and not finding.active:
                incidents.resolve(conn, kind=DEADLINE_MISSED, subject=dag_id, at=now,
                                  alert_for=lambda _incident, f=finding: resolved_alert(f), send=send)
        alert.fields["Not paged again"] = (f"later runs of {dag_id} that miss their deadline, until none has for "
                                           f"{human(quiet)} (the watchdog then sends 'resolved')")
        incidents.observe(conn, kind=DEADLINE_MISSED, subject=dag_id, at=now, alert=alert, opened_by="deadline",
                          details=details, send=page)

    return incidents.page_through_store(f"late runs of {dag_id}", record, send=send)


def _close_if_key_worked_since(conn: psycopg.Connection, source: str, dataset: str | None, *, send: Sender) -> None:
    """The watchdog resolves key incidents; if it is not running, a key that worked again after the open incident
    was last seen must still not silence a new rejection. Judged per dataset, like the watchdog does."""
    if not dataset:
        return
    row = conn.execute("SELECT last_seen_at FROM alert_incidents WHERE kind = %s AND subject = %s "
                       "AND resolved_at IS NULL", (API_KEY_REJECTED, source)).fetchone()
    if row is None:
        return
    worked_at = conn.execute(read_sql("watchdog/key_accepted_since.sql"),
                             {"source": source, "dataset": dataset, "since": row[0]}).fetchone()[0]
    if worked_at is None:
        return
    finding = Finding(API_KEY_REJECTED, source, False, "accepted",
                      f"{source}: a pull of {dataset} got through with API calls at {_fmt(worked_at)}")
    incidents.resolve(conn, kind=API_KEY_REJECTED, subject=source, at=worked_at,
                      alert_for=lambda _incident: resolved_alert(finding), send=send)
