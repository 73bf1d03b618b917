-- The 1m buckets of [range_start, range_end) that have a derived candle now but no trades any more (to delete it),
-- looked up per token that has derived candles on those days (one range of the primary key each). Every other 1m
-- bucket of the range is in _candle_new_1m: a range rebuild's 1m targets are the range itself, so they are not
-- copied here (the roll-up targets read both tables, and the roll-up tells stored 1m candles inside the range by
-- their time).
INSERT INTO _candle_targets_1m (token, bucket_start)
SELECT c.token, c.bucket_start
FROM _candle_range_tokens r
JOIN candles c ON c.source = 'trades' AND c.interval = '1m' AND c.token = r.token
              AND c.bucket_start >= %(range_start)s AND c.bucket_start < %(range_end)s
WHERE NOT EXISTS (SELECT 1 FROM _candle_new_1m n WHERE n.token = c.token AND n.bucket_start = c.bucket_start)
