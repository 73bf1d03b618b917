-- Write the recomputed candles of a range whose days have none stored yet (a first build): a plain INSERT, in key
-- order so each token's index entries go in one after the other (the work tables are written in this order, so the
-- sort finds them sorted). Cannot collide: only the candles refresh writes source 'trades', under the refresh's
-- advisory lock, and it found no derived candle on those days.
INSERT INTO candles (source, token, interval, bucket_start, open, high, low, close, volume, volume_quote, trade_count,
                     vwap)
SELECT 'trades', token, %(interval)s, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap
FROM {new}
ORDER BY token COLLATE "C", bucket_start
