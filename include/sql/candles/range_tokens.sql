-- The tokens that have derived candles on the days of [range_start, range_end): those of the days' 24h candles
-- (through candles_derived_days; see migration 0013).
INSERT INTO _candle_range_tokens (token)
SELECT DISTINCT token FROM candles
WHERE source = 'trades' AND interval = '24h'
  AND bucket_start > %(range_start)s - interval '24 hours' AND bucket_start < %(range_end)s
