-- One point stored twice under different keys: an asset spelled in another case or with surrounding spaces, or more
-- points in one UTC day than the series has (max_per_day: 1 for daily series; 2 for DefiLlama, whose live runs keep
-- one intraday snapshot next to the midnight point). Offending rows: the (asset, metric, day) groups.
WITH scoped AS (
{scope}
)
SELECT lower(btrim(asset)) AS asset, metric, (ts AT TIME ZONE 'UTC')::date AS day, count(*) AS points,
       array_agg(DISTINCT asset) AS spellings, array_agg(ts ORDER BY ts) AS timestamps
FROM scoped
GROUP BY 1, 2, 3
HAVING count(DISTINCT asset) > 1 OR count(*) > %(max_per_day)s
ORDER BY 3, 1, 2
