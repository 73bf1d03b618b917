-- The candles derived from trades (source 'trades') whose bucket overlaps [window_start, window_end), of the tokens
-- traded in [report_from, window_end): what the candles run of that interval rebuilds. (report_from is the interval's
-- start also when a check widens the window to reach earlier candles.) One range of the primary key per token and
-- interval, bounded by that interval's width.
SELECT c.source, c.token, c.interval, c.bucket_start, c.open, c.high, c.low, c.close, c.volume, c.volume_quote,
       c.trade_count
FROM (SELECT DISTINCT t.mint FROM trades t WHERE t.block_time >= %(report_from)s AND t.block_time < %(window_end)s)
     AS traded (token)
CROSS JOIN unnest(%(intervals)s::text[]) AS i (name)
CROSS JOIN LATERAL (
    SELECT * FROM candles
    WHERE source = 'trades'
      AND token = traded.token
      AND interval = i.name
      AND bucket_start > %(window_start)s - candle_width(i.name)
      AND bucket_start < %(window_end)s
    OFFSET 0   -- not flattened into a join: one index range per interval, whatever the table's size
) c
