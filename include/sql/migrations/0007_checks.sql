-- Data-quality checks (plugins/cryptoflow/checks.py, SQL in include/sql/checks/): one row per check and checked
-- data interval. Re-checking an interval (a re-run, a backfill) replaces that interval's rows of the task.

CREATE TABLE check_results (
    id             bigserial   PRIMARY KEY,
    dag_id         text        NOT NULL,
    task_id        text        NOT NULL,
    run_id         text        NOT NULL,
    try_number     integer,
    source         text        NOT NULL,
    dataset        text        NOT NULL,
    interval_start timestamptz NOT NULL,
    interval_end   timestamptz NOT NULL,
    check_name     text        NOT NULL,              -- freshness, row_count, duplicates, non_negative, ohlc, jumps
    table_name     text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('pass', 'fail', 'warn')),
    offending_rows bigint      NOT NULL DEFAULT 0,
    sample         jsonb       NOT NULL DEFAULT '[]', -- up to `sample_size` offending rows, as stored
    message        text        NOT NULL,
    settings       jsonb       NOT NULL DEFAULT '{}', -- the thresholds the check ran with
    checked_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (dag_id, task_id, interval_start, interval_end, check_name, table_name)
);
CREATE INDEX check_results_dataset_interval ON check_results (source, dataset, interval_end DESC);
CREATE INDEX check_results_not_passed ON check_results (interval_end DESC) WHERE status <> 'pass';
CREATE INDEX check_results_checked_at ON check_results (checked_at);

-- The latest result of every check of every dataset (by interval end).
CREATE VIEW v_check_status AS
SELECT DISTINCT ON (source, dataset, check_name, table_name)
       source, dataset, check_name, table_name, status, offending_rows, message, interval_start, interval_end,
       dag_id, run_id, checked_at
FROM check_results
ORDER BY source, dataset, check_name, table_name, interval_end DESC, checked_at DESC;

-- The length of a candle interval ('1m', '15m', '1h', '24h') as an exact number of seconds: '24h'::interval is
-- '1 day', which is not always 24 hours in a session time zone with daylight saving time.
CREATE FUNCTION candle_width(p_interval text) RETURNS interval
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT make_interval(secs => extract(epoch FROM p_interval::interval))
$$;
