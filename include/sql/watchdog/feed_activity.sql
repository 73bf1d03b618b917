-- Per DAG of a pull-based feed, as of %(as_of)s: when it last delivered records (a successful pull with records
-- fetched), when it first ran, and what its latest run did (every dataset skipped: no API key is configured). Only
-- the DAG's own runs count: backfills load the past, and a DAG that was only ever backfilled is not a live feed.
SELECT d.dag_id,
       produced.finished_at AS last_produced_at,
       first_pull.started_at AS first_pull_at,
       latest_run.run_id    AS latest_run_id,
       latest.all_skipped,
       latest.summary       AS latest_run_summary
FROM unnest(%(dag_ids)s::text[]) AS d (dag_id)
LEFT JOIN LATERAL (
    SELECT p.finished_at
    FROM pulls p
    WHERE p.dag_id = d.dag_id AND p.status = 'success' AND p.records_fetched > 0 AND p.finished_at <= %(as_of)s
      AND NOT starts_with(p.run_id, 'backfill__')
    ORDER BY p.finished_at DESC
    LIMIT 1
) produced ON true
LEFT JOIN LATERAL (
    SELECT p.started_at
    FROM pulls p
    WHERE p.dag_id = d.dag_id AND p.started_at <= %(as_of)s AND NOT starts_with(p.run_id, 'backfill__')
    ORDER BY p.started_at
    LIMIT 1
) first_pull ON true
LEFT JOIN LATERAL (
    SELECT p.run_id, p.started_at
    FROM pulls p
    WHERE p.dag_id = d.dag_id AND p.started_at <= %(as_of)s AND NOT starts_with(p.run_id, 'backfill__')
    ORDER BY p.started_at DESC
    LIMIT 1
) latest_run ON true
LEFT JOIN LATERAL (
    SELECT bool_and(p.status = 'skipped') AS all_skipped,
           string_agg(p.task_id || ' ' || CASE WHEN p.finished_at > %(as_of)s THEN 'running' ELSE p.status END
                      || coalesce(' (' || left(p.error, 200) || ')', ''),
                      '; ' ORDER BY p.task_id, p.started_at) AS summary
    FROM pulls p
    WHERE p.dag_id = d.dag_id AND p.run_id = latest_run.run_id AND p.started_at <= %(as_of)s
      AND p.started_at > latest_run.started_at - interval '1 day'   -- a run's pulls start within its duration
) latest ON true
ORDER BY d.dag_id
