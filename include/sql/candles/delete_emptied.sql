-- Targeted buckets that have no trades any more (moved or deleted trades) lose their derived candle.
DELETE FROM candles c
USING {targets} t
WHERE c.source = 'trades' AND c.interval = %(interval)s AND c.token = t.token AND c.bucket_start = t.bucket_start
  AND NOT EXISTS (SELECT 1 FROM {new} n WHERE n.token = t.token AND n.bucket_start = t.bucket_start)
