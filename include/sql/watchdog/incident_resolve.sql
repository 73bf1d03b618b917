-- The condition (kind, subject) no longer holds at %(at)s: resolve its open incident, unless something saw it later.
UPDATE alert_incidents
SET resolved_at = %(at)s, updated_at = now()
WHERE kind = %(kind)s AND subject = %(subject)s AND resolved_at IS NULL AND last_seen_at <= %(at)s
RETURNING id, opened_at, last_seen_at, occurrences, notified_at
