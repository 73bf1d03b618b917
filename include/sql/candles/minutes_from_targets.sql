-- 1m candles of the targeted (token, minute) buckets, each read through the (mint, block_time) index. Open and close
-- are the first and last trade in (block_time, signature, event_index) order: min() and max() of trades.candle_key
-- (migration 0010), which is NULL for trades that make no candles. The keys themselves are kept for the roll-ups.
INSERT INTO _candle_new_1m (token, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap,
                            open_key, close_key)
SELECT t.token, t.bucket_start, candle_order_key_price(s.first_key), s.high, s.low, candle_order_key_price(s.last_key),
       s.volume, s.volume_quote, s.trade_count, s.volume_quote / s.volume, s.first_key, s.last_key
FROM _candle_targets_1m t
CROSS JOIN LATERAL (
    SELECT min(tr.candle_key) AS first_key,
           max(tr.price) AS high,
           min(tr.price) AS low,
           max(tr.candle_key) AS last_key,
           sum(tr.token_amount) AS volume,
           sum(tr.quote_amount) AS volume_quote,
           count(*) AS trade_count
    FROM trades tr
    -- the minute as one range of the (mint, block_time) index: written as row comparisons so the planner cannot
    -- prefer the block_time index and filter out every other token's trades of that minute
    WHERE (tr.mint, tr.block_time) >= (t.token, t.bucket_start)
      AND (tr.mint, tr.block_time) < (t.token, t.bucket_start + interval '1 minute')
      AND tr.candle_key IS NOT NULL
) s
WHERE s.trade_count > 0
