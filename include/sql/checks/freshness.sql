-- Freshness: the newest row before the interval end must be at most max_lag older than the interval end.
-- The scope is [interval_end - horizon, interval_end), so an empty horizon is stale too.
-- Offending rows when stale: the newest row of each series, newest first; one row of NULLs when there is none.
WITH scoped AS (
{scope}
),
newest AS (
    SELECT {series}, max({ts}) AS newest
    FROM scoped
    GROUP BY {series}
)
SELECT n.*, %(interval_end)s - n.newest AS age
FROM (SELECT max(newest) AS newest FROM newest) overall
LEFT JOIN newest n ON true
WHERE overall.newest IS NULL OR overall.newest < %(interval_end)s - %(max_lag)s
ORDER BY n.newest DESC NULLS LAST
