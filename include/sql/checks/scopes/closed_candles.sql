-- The candles of one source, tokens and intervals that closed in (window_start, window_end]: what a Birdeye run of
-- that interval stores (the 11:00 1h candle belongs to the run ending at 12:00).
SELECT source, token, interval, bucket_start, open, high, low, close, volume, volume_usd
FROM candles
WHERE source = %(source)s
  AND token = ANY(%(tokens)s)
  AND interval = ANY(%(intervals)s)
  AND bucket_start >= %(window_start)s - interval '1 day' AND bucket_start < %(window_end)s
  AND bucket_start + candle_width(interval) > %(window_start)s
  AND bucket_start + candle_width(interval) <= %(window_end)s
