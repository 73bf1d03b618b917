-- Before a task failure is counted in an open incident: close the incident quietly if no failure was seen for
-- %(repage_after)s (its success went unnoticed: marked success by hand, a backfill left failed), so the new failure
-- opens a new incident and pages instead of being silenced by an old one.
UPDATE alert_incidents
SET resolved_at = last_seen_at, updated_at = now()
WHERE kind = %(kind)s AND subject = %(subject)s AND resolved_at IS NULL AND last_seen_at < %(at)s - %(repage_after)s
RETURNING id, opened_at, last_seen_at, occurrences
