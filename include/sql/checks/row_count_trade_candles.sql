-- Row count of the candles derived from trades, which is knowable: every minute in which a token traded against
-- wrapped SOL with a positive price and amount (the trades that make candles) in [window_start, window_end) must
-- have its 1m candle. A minute waiting in the candles_dirty change log (a trade that landed after the refresh) is
-- queued for the next refresh, not missing. Offending rows: the minutes without a candle.
SELECT t.token, t.bucket_start, t.trades
FROM (
    SELECT mint AS token, date_bin('1 minute', block_time, timestamptz '1970-01-01 00:00:00+00') AS bucket_start,
           count(*) AS trades
    FROM trades
    WHERE block_time >= %(window_start)s AND block_time < %(window_end)s
      AND quote_mint = %(quote_mint)s AND price > 0 AND token_amount > 0
    GROUP BY 1, 2
) t
WHERE NOT EXISTS (SELECT 1 FROM candles c
                  WHERE c.source = 'trades' AND c.token = t.token AND c.interval = '1m'
                    AND c.bucket_start = t.bucket_start)
  AND NOT EXISTS (SELECT 1 FROM candles_dirty d WHERE d.token = t.token AND d.minute = t.bucket_start)
ORDER BY t.bucket_start, t.token
