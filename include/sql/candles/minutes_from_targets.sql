-- 1m candles of the targeted (token, minute) buckets, each read through the (mint, block_time) index.
-- Open and close are the first and last trade in (block_time, signature, event_index) order; signatures compare
-- byte-wise (COLLATE "C"), whatever the database's collation.
INSERT INTO _candle_new_1m (token, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap)
SELECT t.token, t.bucket_start, s.open, s.high, s.low, s.close, s.volume, s.volume_quote, s.trade_count,
       s.volume_quote / s.volume
FROM _candle_targets_1m t
CROSS JOIN LATERAL (
    SELECT (array_agg(tr.price ORDER BY tr.block_time, tr.signature COLLATE "C", tr.event_index))[1] AS open,
           max(tr.price) AS high,
           min(tr.price) AS low,
           (array_agg(tr.price ORDER BY tr.block_time DESC, tr.signature COLLATE "C" DESC, tr.event_index DESC))[1]
               AS close,
           sum(tr.token_amount) AS volume,
           sum(tr.quote_amount) AS volume_quote,
           count(*) AS trade_count
    FROM trades tr
    -- the minute as one range of the (mint, block_time) index: written as row comparisons so the planner cannot
    -- prefer the block_time index and filter out every other token's trades of that minute
    WHERE (tr.mint, tr.block_time) >= (t.token, t.bucket_start)
      AND (tr.mint, tr.block_time) < (t.token, t.bucket_start + interval '1 minute')
      AND tr.quote_mint = %(quote_mint)s AND tr.price > 0 AND tr.token_amount > 0
) s
WHERE s.trade_count > 0
