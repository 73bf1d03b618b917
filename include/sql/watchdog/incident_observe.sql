-- The condition (kind, subject) holds at %(at)s: open its incident, or note that the open one is still seen.
-- Concurrent callers meet on the unique index of open incidents: exactly one inserts; the others wait for its commit
-- and update. A caller with older knowledge (at < last_seen_at) only counts nothing and changes nothing.
INSERT INTO alert_incidents AS i (kind, subject, opened_at, last_seen_at, opened_by, last_message, details)
VALUES (%(kind)s, %(subject)s, %(at)s, %(at)s, %(opened_by)s, %(message)s, %(details)s)
ON CONFLICT (kind, subject) WHERE resolved_at IS NULL DO UPDATE
SET occurrences  = i.occurrences + (excluded.last_seen_at > i.last_seen_at)::int,
    last_message = CASE WHEN excluded.last_seen_at >= i.last_seen_at THEN excluded.last_message ELSE i.last_message END,
    details      = CASE WHEN excluded.last_seen_at >= i.last_seen_at THEN excluded.details ELSE i.details END,
    last_seen_at = greatest(i.last_seen_at, excluded.last_seen_at),
    updated_at   = now()
RETURNING id, opened_at, last_seen_at, occurrences, notified_at, (xmax = 0) AS opened
