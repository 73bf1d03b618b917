-- The candles derived from trades (source 'trades') whose bucket overlaps [window_start, window_end), of the tokens
-- traded in [report_from, window_end): what the candles run of that interval rebuilds. (report_from is the interval's
-- start also when a check widens the window to reach earlier candles.)
SELECT c.source, c.token, c.interval, c.bucket_start, c.open, c.high, c.low, c.close, c.volume, c.volume_quote,
       c.trade_count
FROM candles c
WHERE c.source = 'trades'
  AND c.token IN (SELECT DISTINCT t.mint FROM trades t
                  WHERE t.block_time >= %(report_from)s AND t.block_time < %(window_end)s)
  AND c.interval = ANY(%(intervals)s)
  AND c.bucket_start > %(window_start)s - interval '1 day' AND c.bucket_start < %(window_end)s
  AND c.bucket_start + candle_width(c.interval) > %(window_start)s
