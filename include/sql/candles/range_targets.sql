-- The 1m buckets of [range_start, range_end): those with trades (computed into _candle_new_1m) and those that have a
-- derived candle now (to delete it when its trades are gone).
INSERT INTO _candle_targets_1m (token, bucket_start)
SELECT token, bucket_start FROM _candle_new_1m
UNION
SELECT token, bucket_start
FROM candles
WHERE source = 'trades' AND interval = '1m'
  AND bucket_start >= %(range_start)s AND bucket_start < %(range_end)s
