-- The distinct (source, asset) pairs of `metrics`, one index probe each (a skip scan of the primary key).
WITH RECURSIVE found AS (
    (SELECT source, asset FROM metrics ORDER BY source, asset LIMIT 1)
    UNION ALL
    SELECT next.source, next.asset
    FROM found, LATERAL (
        SELECT m.source, m.asset FROM metrics m
        WHERE (m.source, m.asset) > (found.source, found.asset)
        ORDER BY m.source, m.asset
        LIMIT 1
    ) next
)
SELECT source, asset FROM found
