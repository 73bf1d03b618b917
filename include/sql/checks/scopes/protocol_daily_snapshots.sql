-- The protocol snapshots of the UTC days in [window_start, window_end).
SELECT protocol, day, tvl, snapshot_at
FROM protocol_daily_snapshots
WHERE day >= (%(window_start)s AT TIME ZONE 'UTC')::date AND day < (%(window_end)s AT TIME ZONE 'UTC')::date
