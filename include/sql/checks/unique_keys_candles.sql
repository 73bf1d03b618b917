-- One candle stored under a key it should not have: a bucket start off its interval's grid (an 11:56:30 1m candle,
-- usually next to the 11:56 one), so two rows can stand for one candle. Offending rows: the grid buckets concerned.
WITH scoped AS (
{scope}
),
gridded AS (
    SELECT source, token, interval, bucket_start,
           date_bin(candle_width(interval), bucket_start, timestamptz '1970-01-01 00:00:00+00') AS bucket
    FROM scoped
)
SELECT source, token, interval, bucket, count(*) AS candles, array_agg(bucket_start ORDER BY bucket_start) AS bucket_starts
FROM gridded
GROUP BY source, token, interval, bucket
HAVING count(*) > 1 OR bool_or(bucket_start <> bucket)
ORDER BY bucket, token, interval
