-- 1m candles of every trade in [range_start, range_end): one pass over trades for everything but open and close,
-- then, per bucket, the open and close trades looked up in the (mint, block_time) index. Open and close are the
-- first and last trade in (block_time, signature, event_index) order: the trades at the bucket's first (last) time,
-- ties broken by signature compared byte-wise (COLLATE "C") and event index. Two index probes per bucket cost far
-- less than ordering the trades, and give exactly what minutes_from_targets.sql gives.
INSERT INTO _candle_new_1m (token, bucket_start, open, high, low, close, volume, volume_quote, trade_count, vwap)
WITH minutes AS MATERIALIZED (
    SELECT mint AS token,
           date_bin('1 minute', block_time, timestamptz '1970-01-01 00:00:00+00') AS bucket_start,
           min(block_time) AS first_time,
           max(block_time) AS last_time,
           max(price) AS high,
           min(price) AS low,
           sum(token_amount) AS volume,
           sum(quote_amount) AS volume_quote,
           count(*) AS trade_count
    FROM trades
    WHERE block_time >= %(range_start)s AND block_time < %(range_end)s
      AND quote_mint = %(quote_mint)s AND price > 0 AND token_amount > 0
    GROUP BY 1, 2
)
SELECT m.token,
       m.bucket_start,
       (SELECT t.price FROM trades t
        WHERE t.mint = m.token AND t.block_time = m.first_time
          AND t.quote_mint = %(quote_mint)s AND t.price > 0 AND t.token_amount > 0
        ORDER BY t.signature COLLATE "C", t.event_index
        LIMIT 1) AS open,
       m.high,
       m.low,
       (SELECT t.price FROM trades t
        WHERE t.mint = m.token AND t.block_time = m.last_time
          AND t.quote_mint = %(quote_mint)s AND t.price > 0 AND t.token_amount > 0
        ORDER BY t.signature COLLATE "C" DESC, t.event_index DESC
        LIMIT 1) AS close,
       m.volume,
       m.volume_quote,
       m.trade_count,
       m.volume_quote / m.volume AS vwap
FROM (SELECT * FROM minutes ORDER BY first_time) m   -- probes in time order touch the table where it was just read
