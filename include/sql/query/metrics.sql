-- Metric points by source, asset, metric and ts range [start, end); every filter is optional (NULL = any).
SELECT source, asset, metric, ts, value
FROM metrics
WHERE (%(source)s::text IS NULL OR source = %(source)s)
  AND (%(asset)s::text IS NULL OR asset = %(asset)s)
  AND (%(metric)s::text IS NULL OR metric = %(metric)s)
  AND (%(start)s::timestamptz IS NULL OR ts >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR ts < %(end)s)
ORDER BY source, asset, metric, ts
LIMIT %(limit)s
