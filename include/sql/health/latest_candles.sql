-- Data health page: the newest candles of one token, candle source and interval.
SELECT bucket_start, open, high, low, close, volume, volume_usd, trade_count
FROM candles
WHERE source = %(source)s AND token = %(token)s AND interval = %(interval)s
ORDER BY bucket_start DESC
LIMIT %(limit)s;
