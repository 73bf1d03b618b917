-- The pool snapshots of the UTC days in [window_start, window_end) that came from the given endpoints ('pools' for
-- the daily /pools answer, 'chart' for the per-pool history).
SELECT pool, day, tvl_usd, volume_usd_1d, from_endpoint, snapshot_at
FROM pool_daily_snapshots
WHERE day >= (%(window_start)s AT TIME ZONE 'UTC')::date AND day < (%(window_end)s AT TIME ZONE 'UTC')::date
  AND from_endpoint = ANY(%(endpoints)s)
