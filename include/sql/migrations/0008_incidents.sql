-- Alert incidents: one row per (kind, subject) condition from the moment it is seen until it clears, so an incident
-- pages once when it opens, stays quiet while it lasts, and sends one "resolved" message when it clears. At most one
-- open incident per (kind, subject): the partial unique index is what concurrent writers (watchdog runs, failure
-- callbacks of parallel tasks) meet in INSERT ... ON CONFLICT, so only one of them opens it and pages.
CREATE TABLE alert_incidents (
    id                   bigserial   PRIMARY KEY,
    kind                 text        NOT NULL,   -- 'source_silent', 'api_error_rate', 'api_key_rejected'
    subject              text        NOT NULL,   -- what it is about: a feed (DAG id, 'trade_stream') or a source
    opened_at            timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL,   -- the latest evaluation (or failure) that still saw the condition
    resolved_at          timestamptz,            -- NULL while open
    occurrences          integer     NOT NULL DEFAULT 1,   -- evaluations and failures that saw it while open
    alerts_sent          integer     NOT NULL DEFAULT 0,   -- messages delivered: the opening one, the resolved one
    notified_at          timestamptz,            -- when the opening message reached a channel (NULL: not yet)
    resolved_notified_at timestamptz,
    opened_by            text        NOT NULL,   -- 'watchdog' or 'task_failure'
    last_message         text,                   -- the latest description of the condition (no secrets)
    details              jsonb,                  -- the figures behind it
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CHECK (last_seen_at >= opened_at),
    CHECK (resolved_at IS NULL OR resolved_at >= last_seen_at)
);
CREATE UNIQUE INDEX alert_incidents_one_open ON alert_incidents (kind, subject) WHERE resolved_at IS NULL;
CREATE INDEX alert_incidents_opened_at ON alert_incidents (opened_at);

-- One row per watchdog evaluation: what it saw, as of its run's interval end. A run older than the newest evaluation
-- is refused (it would reopen or resolve incidents with stale knowledge).
CREATE TABLE watchdog_evaluations (
    as_of        timestamptz PRIMARY KEY,
    run_id       text,
    evaluated_at timestamptz NOT NULL DEFAULT now(),
    findings     jsonb       NOT NULL
);

-- The error class of a failed pull ('ApiKeyRejected', 'ApiUnavailable', ...): ingest records a failure's error as
-- "<ExceptionClass>: <message>" (a skipped pull's error is the skip reason, not a class).
ALTER TABLE pulls ADD COLUMN error_kind text GENERATED ALWAYS AS (
    CASE WHEN status = 'failed' THEN substring(error FROM '^([A-Za-z_][A-Za-z0-9_]*): ') END) STORED;

-- The watchdog's questions: when did this DAG last deliver records, and what did its latest run do.
CREATE INDEX pulls_dag_produced ON pulls (dag_id, finished_at DESC) WHERE status = 'success' AND records_fetched > 0;
CREATE INDEX pulls_dag_started ON pulls (dag_id, started_at DESC);
