-- OHLC sanity: low <= least(open, close), greatest(open, close) <= high, and prices above zero. Offending rows: the
-- candles that break it.
WITH scoped AS (
{scope}
)
SELECT source, token, interval, bucket_start, open, high, low, close
FROM scoped
WHERE NOT (low <= least(open, close) AND greatest(open, close) <= high AND low > 0)
ORDER BY bucket_start, token, interval
