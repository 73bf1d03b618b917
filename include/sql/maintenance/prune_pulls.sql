-- Run-log rows older than the retention; the newest row of each source and dataset is kept for v_sync_status.
DELETE FROM pulls
WHERE started_at < %(cutoff)s
  AND id NOT IN (SELECT max(id) FROM pulls GROUP BY source, dataset)
