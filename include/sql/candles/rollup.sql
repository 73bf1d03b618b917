-- A coarser interval's candles from the finer one's (5m from 1m, 1h from 5m, 6h from 1h, 24h from 6h): the child
-- candles just recomputed (the work table) plus, for a targeted bucket that is not wholly inside a rebuilt range,
-- the stored child candles that were not recomputed (not targeted, and in a range rebuild not wholly inside the
-- range: a child across the range's end was recomputed only if it is a target).
-- Open and close are those of the first and last child, found as min()/max() of the children's order keys: a
-- recomputed child carries the candle_order_key of its first/last trade, a stored one gets a key made of its
-- bucket_start and price. Children's times never overlap (a child's trades lie within its own bucket), so the keys
-- order the children as their buckets do. VWAP comes from the summed volumes: exactly what the bucket's trades give.
-- Written in primary-key order, as a range rebuild's 1m candles are (minutes_from_range.sql).
INSERT INTO {new} (token, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap, open_key,
                   close_key)
SELECT token,
       date_bin(%(width)s::interval, bucket_start, timestamptz '1970-01-01 00:00:00+00'),
       candle_order_key_price(min(open_key)),
       max(high),
       min(low),
       candle_order_key_price(max(close_key)),
       sum(volume),
       sum(volume_quote),
       sum(trade_count),
       sum(volume_quote) / sum(volume),
       min(open_key),
       max(close_key)
FROM (
    SELECT token, bucket_start, open_key, high, low, close_key, volume, volume_quote, trade_count
    FROM {child_new}
    UNION ALL
    SELECT c.token, c.bucket_start, candle_order_key(c.bucket_start, '', -2147483648, c.open) COLLATE "C", c.high,
           c.low, candle_order_key(c.bucket_start, '', -2147483648, c.close) COLLATE "C", c.volume, c.volume_quote,
           c.trade_count
    FROM {targets} t
    CROSS JOIN LATERAL (   -- per targeted bucket, one range of the candles primary key
        SELECT * FROM candles c
        WHERE c.source = 'trades' AND c.interval = %(child)s AND c.token = t.token
          AND c.bucket_start >= t.bucket_start AND c.bucket_start < t.bucket_start + %(width)s::interval
          AND NOT coalesce(c.bucket_start >= %(inside_start)s
                           AND c.bucket_start + %(child_width)s::interval <= %(inside_end)s, false)
          AND NOT EXISTS (SELECT 1 FROM {child_targets} ct
                          WHERE ct.token = c.token AND ct.bucket_start = c.bucket_start)
    ) c
    WHERE NOT coalesce(t.bucket_start >= %(inside_start)s AND t.bucket_start + %(width)s::interval <= %(inside_end)s,
                       false)
) children
GROUP BY 1, 2
ORDER BY token COLLATE "C", 2
