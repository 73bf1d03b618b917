-- A coarser interval's candles from the finer one's (5m from 1m, 1h from 5m, 6h from 1h, 24h from 6h): the child
-- candles just recomputed (the work table) plus, for a targeted bucket that is not wholly inside a rebuilt range,
-- the stored child candles that were not recomputed. Open/close are the first/last child's; a child's
-- bucket_start is unique within the bucket, so it packs exactly with the price into one number
-- (epoch seconds * 10^40 + price: prices are below 10^40) whose min/max carry the open/close.
-- VWAP comes from the summed volumes, so it is exactly what the bucket's trades give.
INSERT INTO {new} (token, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap)
SELECT token,
       date_bin(%(width)s::interval, bucket_start, timestamptz '1970-01-01 00:00:00+00'),
       mod(min(date_part('epoch', bucket_start)::bigint * 1e40 + open), 1e40),
       max(high),
       min(low),
       mod(max(date_part('epoch', bucket_start)::bigint * 1e40 + close), 1e40),
       sum(volume),
       sum(volume_quote),
       sum(trade_count),
       sum(volume_quote) / sum(volume)
FROM (
    SELECT token, bucket_start, open, high, low, close, volume, volume_quote, trade_count
    FROM {child_new}
    UNION ALL
    SELECT c.token, c.bucket_start, c.open, c.high, c.low, c.close, c.volume, c.volume_quote, c.trade_count
    FROM {targets} t
    CROSS JOIN LATERAL (   -- per targeted bucket, one range of the candles primary key
        SELECT * FROM candles c
        WHERE c.source = 'trades' AND c.interval = %(child)s AND c.token = t.token
          AND c.bucket_start >= t.bucket_start AND c.bucket_start < t.bucket_start + %(width)s::interval
          AND NOT EXISTS (SELECT 1 FROM {child_targets} ct
                          WHERE ct.token = c.token AND ct.bucket_start = c.bucket_start)
    ) c
    WHERE NOT coalesce(t.bucket_start >= %(inside_start)s AND t.bucket_start + %(width)s::interval <= %(inside_end)s,
                       false)
) children
GROUP BY 1, 2
