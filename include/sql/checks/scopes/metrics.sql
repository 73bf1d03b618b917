-- The points of one source's metrics in [window_start, window_end). metric_pattern narrows the metrics further (a
-- case-insensitive regular expression; the empty pattern keeps them all).
SELECT source, asset, metric, ts, value
FROM metrics
WHERE source = %(source)s
  AND metric = ANY(%(metrics)s)
  AND metric ~* %(metric_pattern)s
  AND ts >= %(window_start)s AND ts < %(window_end)s
