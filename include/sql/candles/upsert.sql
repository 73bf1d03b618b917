-- Write the recomputed candles; an unchanged candle is not rewritten (updated_at keeps meaning "last changed").
INSERT INTO candles AS c (source, token, interval, bucket_start, open, high, low, close, volume, volume_quote,
                          trade_count, vwap)
SELECT 'trades', token, %(interval)s, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap
FROM {new}
ORDER BY token, bucket_start   -- in key order: each index page is visited once, not once per candle
ON CONFLICT (source, token, interval, bucket_start) DO UPDATE SET
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, volume_quote = excluded.volume_quote, trade_count = excluded.trade_count,
    vwap = excluded.vwap, updated_at = now()
WHERE (c.open, c.high, c.low, c.close, c.volume, c.volume_quote, c.trade_count, c.vwap)
      IS DISTINCT FROM
      (excluded.open, excluded.high, excluded.low, excluded.close, excluded.volume, excluded.volume_quote,
       excluded.trade_count, excluded.vwap)
