-- The 1m buckets of [range_start, range_end): those with trades (computed into _candle_new_1m) and those that have a
-- derived candle now but no trades any more (to delete it). The two sets are disjoint: no de-duplication needed.
INSERT INTO _candle_targets_1m (token, bucket_start)
SELECT token, bucket_start FROM _candle_new_1m
UNION ALL
SELECT c.token, c.bucket_start
FROM candles c
WHERE c.source = 'trades' AND c.interval = '1m'
  AND c.bucket_start >= %(range_start)s AND c.bucket_start < %(range_end)s
  AND NOT EXISTS (SELECT 1 FROM _candle_new_1m n WHERE n.token = c.token AND n.bucket_start = c.bucket_start)
