-- A task succeeded for a data interval ending at %(through)s: resolve the open incident of (DAG, task), unless it
-- holds a failure of a later interval (a backfill's older interval succeeding says nothing about the newest one).
-- One lookup through the partial unique index of open incidents.
UPDATE alert_incidents
SET resolved_at = greatest(%(at)s, last_seen_at), updated_at = now()
WHERE kind = %(kind)s AND subject = %(subject)s AND resolved_at IS NULL
  AND (details ->> 'failed_through')::timestamptz <= %(through)s
RETURNING id, opened_at, last_seen_at, occurrences, notified_at
