-- v_newest_data (0009) without full scans: the Data health page reads it on every load, and max(ts) ... GROUP BY
-- source read every row of metrics, candles and trades (and HAVING count(*) every row of the smaller tables).
-- Now each newest value is one index probe: per series (source, asset, metric) / (source, token, interval) of the
-- primary keys, walked from the end of the key (the last row of a series is its newest), and per trade source
-- through trades_source_block_time. The cost grows with the number of series, not with the rows or the time kept.

CREATE INDEX trades_source_block_time ON trades (source, block_time);

CREATE OR REPLACE VIEW v_newest_data AS
WITH RECURSIVE metric_series (source, asset, metric, newest) AS (
    (SELECT source, asset, metric, ts FROM metrics ORDER BY source DESC, asset DESC, metric DESC, ts DESC LIMIT 1)
    UNION ALL
    SELECT prev.*
    FROM metric_series s
    CROSS JOIN LATERAL (
        SELECT m.source, m.asset, m.metric, m.ts FROM metrics m
        WHERE (m.source, m.asset, m.metric) < (s.source, s.asset, s.metric)
        ORDER BY m.source DESC, m.asset DESC, m.metric DESC, m.ts DESC
        LIMIT 1
    ) prev
), candle_series (source, token, interval, newest) AS (
    (SELECT source, token, interval, bucket_start FROM candles
     ORDER BY source DESC, token DESC, interval DESC, bucket_start DESC LIMIT 1)
    UNION ALL
    SELECT prev.*
    FROM candle_series s
    CROSS JOIN LATERAL (
        SELECT c.source, c.token, c.interval, c.bucket_start FROM candles c
        WHERE (c.source, c.token, c.interval) < (s.source, s.token, s.interval)
        ORDER BY c.source DESC, c.token DESC, c.interval DESC, c.bucket_start DESC
        LIMIT 1
    ) prev
), trade_sources (source, newest) AS (
    (SELECT source, block_time FROM trades ORDER BY source DESC, block_time DESC LIMIT 1)
    UNION ALL
    SELECT prev.*
    FROM trade_sources s
    CROSS JOIN LATERAL (
        SELECT t.source, t.block_time FROM trades t
        WHERE t.source < s.source
        ORDER BY t.source DESC, t.block_time DESC
        LIMIT 1
    ) prev
)
SELECT 'metrics'::text AS data_table, source, max(newest) AS newest_data_at FROM metric_series GROUP BY source
UNION ALL
SELECT 'candles', source, max(newest) FROM candle_series GROUP BY source
UNION ALL
SELECT 'trades', source, newest FROM trade_sources
UNION ALL
SELECT 'wallet_transactions', 'helius', newest
FROM (SELECT max(block_time) AS newest FROM wallet_transactions) w WHERE newest IS NOT NULL
UNION ALL
SELECT 'pool_daily_snapshots', 'defillama', newest::timestamp AT TIME ZONE 'UTC'
FROM (SELECT max(day) AS newest FROM pool_daily_snapshots) p WHERE newest IS NOT NULL
UNION ALL
SELECT 'protocol_daily_snapshots', 'defillama', newest::timestamp AT TIME ZONE 'UTC'
FROM (SELECT max(day) AS newest FROM protocol_daily_snapshots) p WHERE newest IS NOT NULL;
