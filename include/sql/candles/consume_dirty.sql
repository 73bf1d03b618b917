-- Take the change log's (token, minute) buckets as this refresh's targets. Rows committed after this statement's
-- snapshot are not deleted: they wait for the next refresh, so nothing committed is ever skipped.
WITH consumed AS (
    DELETE FROM candles_dirty RETURNING token, minute
), targets AS (
    INSERT INTO _candle_targets_1m (token, bucket_start)
    SELECT DISTINCT token, minute FROM consumed
    RETURNING 1
)
SELECT (SELECT count(*) FROM consumed) AS dirty_rows, (SELECT count(*) FROM targets) AS minutes
