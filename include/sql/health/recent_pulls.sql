-- Data health page: the latest runs of every dataset (what just loaded, and which interval).
SELECT dag_id, task_id, source, dataset, run_id, interval_start, interval_end, status, started_at, finished_at,
       records_fetched, records_upserted, records_rejected, api_calls, cache_hits, http_errors, latency_p95_ms,
       error
FROM pulls
ORDER BY started_at DESC, id DESC
LIMIT %(limit)s;
