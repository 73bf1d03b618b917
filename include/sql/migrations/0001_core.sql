-- Core of the warehouse: the run log, raw landing, rejected records, and the tables several sources share.

CREATE TABLE pulls (
    id               bigserial PRIMARY KEY,
    dag_id           text        NOT NULL,
    task_id          text        NOT NULL,
    run_id           text        NOT NULL,
    try_number       integer,
    source           text        NOT NULL,
    dataset          text        NOT NULL,
    interval_start   timestamptz,
    interval_end     timestamptz,
    status           text        NOT NULL CHECK (status IN ('running', 'success', 'failed', 'skipped')),
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    records_fetched  integer     NOT NULL DEFAULT 0,
    records_upserted integer     NOT NULL DEFAULT 0,
    records_rejected integer     NOT NULL DEFAULT 0,
    api_calls        integer     NOT NULL DEFAULT 0,
    cache_hits       integer     NOT NULL DEFAULT 0,
    retries          integer     NOT NULL DEFAULT 0,
    http_429s        integer     NOT NULL DEFAULT 0,
    http_errors      integer     NOT NULL DEFAULT 0,
    latency_p50_ms   double precision,
    latency_p95_ms   double precision,
    latency_p99_ms   double precision,
    stale_after      interval,
    error            text
);
CREATE INDEX pulls_source_dataset_started ON pulls (source, dataset, started_at DESC);
CREATE INDEX pulls_started_at ON pulls (started_at);

CREATE TABLE raw_responses (
    id          bigserial PRIMARY KEY,
    source      text        NOT NULL,
    dataset     text,
    conn_id     text        NOT NULL,
    method      text        NOT NULL DEFAULT 'GET',
    url         text        NOT NULL,          -- never contains a secret
    params      jsonb,                         -- never contains a secret
    request_key text        NOT NULL,          -- hash of method, url and params: the cache key
    status      integer,
    fetched_at  timestamptz NOT NULL DEFAULT now(),
    elapsed_ms  double precision,
    bytes       integer,
    body        jsonb,                         -- the parsed body when it was JSON
    body_text   text,                          -- the body as received when it was not (truncated, HTML, ...)
    dag_id      text,
    run_id      text
);
CREATE INDEX raw_responses_cache ON raw_responses (request_key, fetched_at DESC) WHERE status = 200 AND body IS NOT NULL;
CREATE INDEX raw_responses_fetched_at ON raw_responses (fetched_at);

CREATE TABLE rejected_records (
    id             bigserial PRIMARY KEY,
    source         text        NOT NULL,
    dataset        text        NOT NULL,
    dag_id         text,
    run_id         text,
    interval_start timestamptz,
    interval_end   timestamptz,
    reason         text        NOT NULL,
    record         jsonb,
    rejected_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejected_records_interval ON rejected_records (source, dataset, interval_start, interval_end);
CREATE INDEX rejected_records_rejected_at ON rejected_records (rejected_at);

-- Latest state per source and dataset; stale when the newest successfully loaded interval is older than the
-- dataset's own threshold (recorded by each pull) or a day when none was given.
CREATE VIEW v_sync_status AS
WITH latest AS (
    SELECT DISTINCT ON (source, dataset) *
    FROM pulls
    ORDER BY source, dataset, started_at DESC, id DESC
), succeeded AS (
    SELECT source, dataset, max(interval_end) AS last_loaded_interval_end, max(finished_at) AS last_success_at
    FROM pulls
    WHERE status = 'success'
    GROUP BY source, dataset
)
SELECT l.source,
       l.dataset,
       l.status       AS last_status,
       l.dag_id,
       l.run_id       AS last_run_id,
       l.started_at   AS last_started_at,
       l.finished_at  AS last_finished_at,
       l.error        AS last_error,
       s.last_loaded_interval_end,
       s.last_success_at,
       coalesce(l.stale_after, interval '1 day') AS stale_after,
       (s.last_loaded_interval_end IS NULL
        OR s.last_loaded_interval_end < now() - coalesce(l.stale_after, interval '1 day')) AS stale
FROM latest l
LEFT JOIN succeeded s USING (source, dataset);

-- Shared by DefiLlama and Artemis.
CREATE TABLE metrics (
    source     text        NOT NULL,
    asset      text        NOT NULL,
    metric     text        NOT NULL,
    ts         timestamptz NOT NULL,
    value      numeric     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, asset, metric, ts)
);
CREATE INDEX metrics_metric_ts ON metrics (metric, ts);

CREATE TABLE entity_map (
    source     text NOT NULL,     -- 'defillama', 'artemis', 'coingecko'
    source_id  text NOT NULL,
    entity     text NOT NULL,     -- our canonical id
    kind       text,              -- 'chain', 'protocol', 'asset'
    evidence   text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_id)
);
CREATE INDEX entity_map_entity ON entity_map (entity);

-- Shared by Helius, the trade stream, Birdeye and the candle DAG.
CREATE TABLE wallets (
    address    text PRIMARY KEY,
    label      text,
    tags       text[] NOT NULL DEFAULT '{}',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE watchlist (
    address    text PRIMARY KEY,  -- token mint
    symbol     text,
    name       text,
    timeframes text[],            -- Birdeye timeframes; NULL = the defaults
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE trades (
    signature    text        NOT NULL,
    event_index  integer     NOT NULL,
    source       text        NOT NULL,        -- feed that first delivered it: 'helius', 'pumpportal', 'pumpfun'
    block_time   timestamptz NOT NULL,
    slot         bigint,
    trader       text,
    mint         text        NOT NULL,
    side         text        NOT NULL CHECK (side IN ('buy', 'sell')),
    token_amount numeric     NOT NULL,        -- decimal-adjusted
    quote_mint   text        NOT NULL,
    quote_amount numeric     NOT NULL,        -- decimal-adjusted
    price        numeric,                     -- quote per token
    time_is_receive_time boolean NOT NULL DEFAULT false,
    feed_fields  jsonb,
    ingested_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (signature, event_index)
);
CREATE INDEX trades_mint_time ON trades (mint, block_time);
CREATE INDEX trades_ingested_at ON trades (ingested_at);

CREATE TABLE tokens (
    mint          text PRIMARY KEY,
    symbol        text,
    name          text,
    decimals      integer,
    uri           text,
    creator       text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    metadata      jsonb,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE token_prices (
    mint       text PRIMARY KEY,
    price      numeric     NOT NULL,   -- in quote_mint units
    quote_mint text        NOT NULL,
    price_usd  numeric,
    ts         timestamptz NOT NULL,   -- time of the trade the price comes from
    source     text        NOT NULL,
    signature  text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE candles (
    source       text        NOT NULL,   -- 'birdeye' or 'trades'
    token        text        NOT NULL,
    interval     text        NOT NULL,   -- '1m', '5m', '15m', '1h', '6h', '24h'
    bucket_start timestamptz NOT NULL,
    open         numeric     NOT NULL,
    high         numeric     NOT NULL,
    low          numeric     NOT NULL,
    close        numeric     NOT NULL,
    volume       numeric,                -- base (token) volume
    volume_quote numeric,
    volume_usd   numeric,
    trade_count  integer,
    vwap         numeric,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, token, interval, bucket_start)
);
