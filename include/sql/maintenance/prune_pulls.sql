-- Run-log rows older than the retention; the newest row of each source and dataset is kept for v_sync_status.
DELETE FROM pulls p
WHERE p.started_at < %(cutoff)s
  AND p.id <> (SELECT max(id) FROM pulls q WHERE q.source = p.source AND q.dataset = p.dataset)
