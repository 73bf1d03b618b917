-- Candles of one token and interval whose bucket starts in [start, end); source and both ends are optional.
SELECT source, token, interval, bucket_start, open, high, low, close, volume, volume_quote, volume_usd, vwap,
       trade_count
FROM candles
WHERE token = %(token)s
  AND interval = %(interval)s
  AND source = ANY(%(sources)s)
  AND (%(start)s::timestamptz IS NULL OR bucket_start >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR bucket_start < %(end)s)
ORDER BY bucket_start, source
LIMIT %(limit)s
