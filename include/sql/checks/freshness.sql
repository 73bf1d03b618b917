-- Freshness: the newest row before the interval end must be at most max_lag older than the interval end.
-- The scope is [interval_end - horizon, interval_end), so an empty horizon is stale too.
-- Offending rows when stale: the newest row of each series, newest first; one row of NULLs when there is none.
-- The newest row overall comes first (one backward index probe where the scope is one time range of one table);
-- the horizon is grouped per series only when it is stale.
WITH overall AS (
    SELECT max({ts}) AS newest
    FROM (
{scope}
    ) scoped
)
SELECT n.*, %(interval_end)s - n.newest AS age
FROM overall
LEFT JOIN LATERAL (
    SELECT {series}, max({ts}) AS newest
    FROM (
{scope}
    ) scoped
    GROUP BY {series}
) n ON true
WHERE overall.newest IS NULL OR overall.newest < %(interval_end)s - %(max_lag)s
ORDER BY n.newest DESC NULLS LAST
