-- A task failed for good (after its retries): open the incident of (DAG, task), or count the failure in the open one.
-- Like incident_observe.sql, but every failure counts, the row keeps the latest failure's message and details, and
-- details.failed_through keeps the latest data interval end that failed while the incident was open (a success
-- resolves the incident only for that interval or a later one: task_failure_resolve.sql).
INSERT INTO alert_incidents AS i (kind, subject, opened_at, last_seen_at, opened_by, last_message, details)
VALUES (%(kind)s, %(subject)s, %(at)s, %(at)s, %(opened_by)s, %(message)s, %(details)s)
ON CONFLICT (kind, subject) WHERE resolved_at IS NULL DO UPDATE
SET occurrences  = i.occurrences + 1,
    last_message = excluded.last_message,
    details      = excluded.details || jsonb_build_object('failed_through', greatest(
                       (i.details ->> 'failed_through')::timestamptz,
                       (excluded.details ->> 'failed_through')::timestamptz)),
    last_seen_at = greatest(i.last_seen_at, excluded.last_seen_at),
    updated_at   = now()
RETURNING id, opened_at, last_seen_at, occurrences, notified_at, (xmax = 0) AS opened
