-- The candles of one source, tokens and intervals that closed in (window_start, window_end]: what a Birdeye run of
-- that interval stores (the 11:00 1h candle belongs to the run ending at 12:00). One range of the primary key per
-- interval, bounded by that interval's width, so a 5-minute run reads its own few candles.
SELECT c.source, c.token, c.interval, c.bucket_start, c.open, c.high, c.low, c.close, c.volume, c.volume_usd
FROM unnest(%(intervals)s::text[]) AS i (name)
CROSS JOIN LATERAL (
    SELECT * FROM candles
    WHERE source = %(source)s
      AND token = ANY(%(tokens)s)
      AND interval = i.name
      AND bucket_start > %(window_start)s - candle_width(i.name)
      AND bucket_start <= %(window_end)s - candle_width(i.name)
    OFFSET 0   -- not flattened into a join: one index range per interval, whatever the table's size
) c
