-- 1m candles of every trade in [range_start, range_end), in one pass over trades. Open and close are the first and
-- last trade in (block_time, signature, event_index) order: min() and max() of trades.candle_key (migration 0010),
-- which is NULL for trades that make no candles. The keys themselves are kept for the roll-ups.
-- Written in primary-key order, tokens compared byte-wise (the order is only for locality, and "C" costs a memcmp
-- where a database's linguistic collation would cost a strcoll): the 5m roll-up then finds each bucket's children
-- next to each other (measured a third faster than in hash order), and the write to candles finds them sorted.
INSERT INTO _candle_new_1m (token, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap,
                            open_key, close_key)
SELECT mint AS token,
       date_bin('1 minute', block_time, timestamptz '1970-01-01 00:00:00+00') AS bucket_start,
       candle_order_key_price(min(candle_key)) AS open,
       max(price) AS high,
       min(price) AS low,
       candle_order_key_price(max(candle_key)) AS close,
       sum(token_amount) AS volume,
       sum(quote_amount) AS volume_quote,
       count(*) AS trade_count,
       sum(quote_amount) / sum(token_amount) AS vwap,
       min(candle_key) AS open_key,
       max(candle_key) AS close_key
FROM trades
WHERE block_time >= %(range_start)s AND block_time < %(range_end)s
  AND candle_key IS NOT NULL
GROUP BY 1, 2
ORDER BY mint COLLATE "C", 2
