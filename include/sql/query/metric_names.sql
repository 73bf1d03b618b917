-- The distinct metric names of `metrics`, one index probe each (a skip scan of metrics_metric_ts).
WITH RECURSIVE found AS (
    (SELECT metric FROM metrics ORDER BY metric LIMIT 1)
    UNION ALL
    SELECT (SELECT m.metric FROM metrics m WHERE m.metric > found.metric ORDER BY m.metric LIMIT 1)
    FROM found
    WHERE found.metric IS NOT NULL
)
SELECT metric FROM found WHERE metric IS NOT NULL
