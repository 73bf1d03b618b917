-- The distinct sources of `metrics`, one index probe each (a skip scan of the primary key).
WITH RECURSIVE found AS (
    (SELECT source FROM metrics ORDER BY source LIMIT 1)
    UNION ALL
    SELECT (SELECT m.source FROM metrics m WHERE m.source > found.source ORDER BY m.source LIMIT 1)
    FROM found
    WHERE found.source IS NOT NULL
)
SELECT source FROM found WHERE source IS NOT NULL
