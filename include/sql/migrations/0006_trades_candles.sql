-- Trades as the source of truth: the live trade stream's bookkeeping, and the change log and checks of the candles
-- derived from `trades` (source 'trades' in `candles`).

-- Every period the live stream was not receiving trades (connection lost, reconnecting, service stopped or crashed),
-- so it can be filled from Helius history. `disconnected_at` is the last trade-bearing moment minus a safety margin.
CREATE TABLE stream_disconnects (
    id              bigserial   PRIMARY KEY,
    stream          text        NOT NULL,               -- 'pumpportal'
    disconnected_at timestamptz NOT NULL,
    reconnected_at  timestamptz,                        -- NULL while the stream is still not receiving
    reason          text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,     -- connection attempts that failed during the period
    mints           text[]      NOT NULL DEFAULT '{}',  -- the token-trade subscriptions missed (the mints to fill)
    filled_at       timestamptz,                        -- set by whoever filled the gap from history
    filled_by       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (reconnected_at IS NULL OR reconnected_at >= disconnected_at)
);
CREATE INDEX stream_disconnects_open ON stream_disconnects (stream) WHERE reconnected_at IS NULL;
CREATE INDEX stream_disconnects_unfilled ON stream_disconnects (disconnected_at) WHERE filled_at IS NULL;

-- One row per stream service: its health and counters since it started, written at each flush and heartbeat.
CREATE TABLE stream_status (
    stream              text        PRIMARY KEY,
    host                text,
    pid                 integer,
    started_at          timestamptz NOT NULL,
    state               text        NOT NULL CHECK (state IN ('connecting', 'connected', 'disconnected', 'stopped')),
    connected_since     timestamptz,
    last_message_at     timestamptz,
    last_flush_at       timestamptz,
    subscribed_mints    integer     NOT NULL DEFAULT 0,
    frames              bigint      NOT NULL DEFAULT 0,
    control_frames      bigint      NOT NULL DEFAULT 0,
    malformed_frames    bigint      NOT NULL DEFAULT 0,
    trades_received     bigint      NOT NULL DEFAULT 0,
    trades_inserted     bigint      NOT NULL DEFAULT 0,
    trades_duplicate    bigint      NOT NULL DEFAULT 0,
    trades_buffered     integer     NOT NULL DEFAULT 0,
    flushes             bigint      NOT NULL DEFAULT 0,
    flush_errors        bigint      NOT NULL DEFAULT 0,
    reconnects          bigint      NOT NULL DEFAULT 0,
    asset_events_sent   bigint      NOT NULL DEFAULT 0,
    asset_events_failed bigint      NOT NULL DEFAULT 0,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Range rebuilds of candles read trades by time across all tokens.
CREATE INDEX IF NOT EXISTS trades_block_time ON trades (block_time);

-- The change log that drives incremental candles: every statement that inserts, updates or deletes trades records
-- the (token, minute) buckets it touched, in the same transaction, so a committed trade is never missed (late
-- trades for old buckets, Helius overwriting a streamed trade's time or amounts, deletes). The candles run deletes
-- the rows it sees and recomputes those buckets in one transaction; rows committed meanwhile wait for the next run.
-- No key on purpose: concurrent writers never wait on each other here.
CREATE TABLE candles_dirty (
    token      text        NOT NULL,
    minute     timestamptz NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION trades_mark_candles_dirty() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO candles_dirty (token, minute)
        SELECT DISTINCT mint, date_bin('1 minute', block_time, timestamptz '1970-01-01 00:00:00+00') FROM new_rows;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO candles_dirty (token, minute)
        SELECT DISTINCT mint, date_bin('1 minute', block_time, timestamptz '1970-01-01 00:00:00+00') FROM old_rows;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER trades_candles_dirty_insert AFTER INSERT ON trades
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION trades_mark_candles_dirty();
CREATE TRIGGER trades_candles_dirty_update AFTER UPDATE ON trades
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION trades_mark_candles_dirty();
CREATE TRIGGER trades_candles_dirty_delete AFTER DELETE ON trades
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION trades_mark_candles_dirty();

-- One row per candles refresh: what it recomputed. The DAG's runs, the rebuild command and the benchmark write it.
CREATE TABLE candle_refreshes (
    id              bigserial   PRIMARY KEY,
    mode            text        NOT NULL CHECK (mode IN ('incremental', 'range')),
    range_start     timestamptz,
    range_end       timestamptz,
    dag_id          text,
    run_id          text,
    started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    dirty_rows      integer     NOT NULL DEFAULT 0,   -- change-log rows consumed (incremental)
    minutes         integer     NOT NULL DEFAULT 0,   -- (token, minute) buckets recomputed
    candles_written integer     NOT NULL DEFAULT 0,   -- candles inserted or changed, all intervals
    candles_deleted integer     NOT NULL DEFAULT 0    -- candles whose trades are gone
);
CREATE INDEX candle_refreshes_started_at ON candle_refreshes (started_at);

-- Birdeye vs derived candles: per window, token and interval, the share of buckets whose close differs by more than
-- the tolerance. Re-running a window replaces its rows.
CREATE TABLE candle_reconciliation (
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    token            text        NOT NULL,
    interval         text        NOT NULL,
    buckets          integer     NOT NULL,            -- buckets both sources have (and a SOL/USD close for)
    mismatched       integer     NOT NULL,
    mismatch_share   numeric     NOT NULL,
    max_rel_diff     numeric,
    tolerance        numeric     NOT NULL,
    threshold        numeric     NOT NULL,
    above_threshold  boolean     NOT NULL,
    alerted_at       timestamptz,                     -- when an alert about this (token, interval) went out
    dag_id           text,
    run_id           text,
    checked_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (token, interval, window_start, window_end)
);
CREATE INDEX candle_reconciliation_window_end ON candle_reconciliation (window_end);
