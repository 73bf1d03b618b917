-- Monitoring: per-source throughput, API error rate and latency over time (from `pulls`), and data freshness (the
-- newest timestamp actually stored per source and table, next to the newest successfully loaded interval). Read by
-- the "Data health" page of the Airflow UI (plugins/data_health.py) and fine for ad-hoc SQL.

-- Pull figures per source and time bucket. A pull counts in the bucket in which it started; running pulls have no
-- figures yet and are left out. What each column means:
--   records_*_per_min  records over the bucket's minutes (for the bucket still in progress: the minutes so far)
--   error_rate         failed HTTP attempts / HTTP attempts (`http_errors` / `api_calls`; answers from the raw cache
--                      are not attempts). NULL when the bucket made no call.
--   latency_p50_ms     mean of the pulls' own p50, weighted by their API calls: the typical call.
--   latency_p95_ms,    the worst pull's own p95 / p99 in the bucket. `pulls` keeps per-pull percentiles, not the
--   latency_p99_ms     calls' latencies, and percentiles of several pulls cannot be combined exactly: the maximum
--                      never understates the tail (and is exact when one pull made the calls).
CREATE FUNCTION pull_metrics(p_bucket interval, p_from timestamptz DEFAULT '-infinity',
                             p_to timestamptz DEFAULT 'infinity')
RETURNS TABLE (
    source                   text,
    bucket_start             timestamptz,
    bucket_end               timestamptz,
    pulls                    bigint,
    failed_pulls             bigint,
    records_fetched          bigint,
    records_upserted         bigint,
    records_rejected         bigint,
    records_fetched_per_min  double precision,
    records_upserted_per_min double precision,
    api_calls                bigint,
    cache_hits               bigint,
    http_errors              bigint,
    http_429s                bigint,
    retries                  bigint,
    error_rate               double precision,
    latency_p50_ms           double precision,
    latency_p95_ms           double precision,
    latency_p99_ms           double precision
)
LANGUAGE sql STABLE AS $$
    WITH binned AS (
        SELECT p.*, date_bin(p_bucket, p.started_at, timestamptz '2000-01-01 00:00:00+00') AS bucket
        FROM pulls p
        WHERE p.status <> 'running'
          -- whole buckets only: the first one starts at the bucket boundary at or before p_from
          AND p.started_at >= CASE WHEN isfinite(p_from)
                                   THEN date_bin(p_bucket, p_from, timestamptz '2000-01-01 00:00:00+00')
                                   ELSE p_from END
          AND p.started_at < p_to
    ), summed AS (
        SELECT b.source,
               b.bucket,
               count(*)                                      AS pulls,
               count(*) FILTER (WHERE b.status = 'failed')   AS failed_pulls,
               sum(b.records_fetched)                        AS records_fetched,
               sum(b.records_upserted)                       AS records_upserted,
               sum(b.records_rejected)                       AS records_rejected,
               sum(b.api_calls)                              AS api_calls,
               sum(b.cache_hits)                             AS cache_hits,
               sum(b.http_errors)                            AS http_errors,
               sum(b.http_429s)                              AS http_429s,
               sum(b.retries)                                AS retries,
               sum(b.latency_p50_ms * b.api_calls) FILTER (WHERE b.latency_p50_ms IS NOT NULL AND b.api_calls > 0)
                                                             AS p50_weighted,
               sum(b.api_calls) FILTER (WHERE b.latency_p50_ms IS NOT NULL AND b.api_calls > 0)
                                                             AS p50_weight,
               max(b.latency_p95_ms)                         AS latency_p95_ms,
               max(b.latency_p99_ms)                         AS latency_p99_ms
        FROM binned b
        GROUP BY b.source, b.bucket
    )
    SELECT s.source,
           s.bucket,
           s.bucket + p_bucket,
           s.pulls,
           s.failed_pulls,
           s.records_fetched,
           s.records_upserted,
           s.records_rejected,
           s.records_fetched / m.minutes,
           s.records_upserted / m.minutes,
           s.api_calls,
           s.cache_hits,
           s.http_errors,
           s.http_429s,
           s.retries,
           s.http_errors::double precision / nullif(s.api_calls, 0),
           s.p50_weighted / nullif(s.p50_weight, 0),
           s.latency_p95_ms,
           s.latency_p99_ms
    FROM summed s
    CROSS JOIN LATERAL (
        SELECT greatest(extract(epoch FROM least(s.bucket + p_bucket, now()) - s.bucket) / 60.0, 1.0 / 60)::double precision
               AS minutes
    ) m
$$;

CREATE VIEW v_pull_metrics_5m AS SELECT * FROM pull_metrics(interval '5 minutes');
CREATE VIEW v_pull_metrics_hourly AS SELECT * FROM pull_metrics(interval '1 hour');

-- The newest data timestamp stored per source and table: the event or point time (not when it was loaded).
-- Daily snapshots count as 00:00 UTC of their day.
CREATE VIEW v_newest_data AS
SELECT 'metrics'::text AS data_table, source, max(ts) AS newest_data_at FROM metrics GROUP BY source
UNION ALL
SELECT 'candles', source, max(bucket_start) FROM candles GROUP BY source
UNION ALL
SELECT 'trades', source, max(block_time) FROM trades GROUP BY source
UNION ALL
SELECT 'wallet_transactions', 'helius', max(block_time) FROM wallet_transactions HAVING count(*) > 0
UNION ALL
SELECT 'pool_daily_snapshots', 'defillama', max(day)::timestamp AT TIME ZONE 'UTC' FROM pool_daily_snapshots
HAVING count(*) > 0
UNION ALL
SELECT 'protocol_daily_snapshots', 'defillama', max(day)::timestamp AT TIME ZONE 'UTC' FROM protocol_daily_snapshots
HAVING count(*) > 0;

-- Freshness per source and dataset: v_sync_status (last run, newest successfully loaded interval, stale flag) with
-- the newest data the dataset's table holds for that source, and both ages. Datasets write the tables listed here;
-- a dataset missing from the list (or writing a table without a time, like the catalog) has no newest_data_at.
-- Data that arrives without pulls (the live trade stream's trades) is listed with dataset NULL.
CREATE VIEW v_data_freshness AS
WITH dataset_tables (source, dataset, data_table) AS (
    VALUES ('defillama', 'chain_tvl', 'metrics'), ('defillama', 'protocol_tvl', 'metrics'),
           ('defillama', 'fees', 'metrics'), ('defillama', 'volumes', 'metrics'),
           ('defillama', 'derivatives', 'metrics'), ('defillama', 'stablecoins', 'metrics'),
           ('defillama', 'bridges', 'metrics'), ('defillama', 'pro', 'metrics'),
           ('defillama', 'catalog', 'protocol_daily_snapshots'), ('defillama', 'pools', 'pool_daily_snapshots'),
           ('defillama', 'pool_history', 'pool_daily_snapshots'),
           ('artemis', 'metrics', 'metrics'),
           ('helius', 'transactions', 'wallet_transactions'),
           ('birdeye', 'ohlcv', 'candles'),
           ('trades', 'candles', 'candles')
), newest AS (
    SELECT * FROM v_newest_data
)
SELECT s.source,
       s.dataset,
       t.data_table,
       n.newest_data_at,
       now() - n.newest_data_at              AS data_age,
       s.last_loaded_interval_end,
       now() - s.last_loaded_interval_end    AS interval_lag,
       s.last_status,
       s.dag_id,
       s.last_run_id,
       s.last_finished_at,
       s.last_success_at,
       s.last_error,
       s.stale_after,
       s.stale
FROM v_sync_status s
LEFT JOIN dataset_tables t USING (source, dataset)
LEFT JOIN newest n ON n.source = s.source AND n.data_table = t.data_table
UNION ALL
SELECT n.source, NULL, n.data_table, n.newest_data_at, now() - n.newest_data_at,
       NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM newest n
WHERE NOT EXISTS (SELECT 1 FROM v_sync_status s JOIN dataset_tables t USING (source, dataset)
                  WHERE s.source = n.source AND t.data_table = n.data_table);
