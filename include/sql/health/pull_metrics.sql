-- Data health page: per-source figures per time bucket in [since, until).
SELECT source, bucket_start, bucket_end, pulls, failed_pulls, records_fetched, records_upserted,
       records_fetched_per_min, records_upserted_per_min, api_calls, http_errors, error_rate,
       latency_p50_ms, latency_p95_ms, latency_p99_ms
FROM pull_metrics(%(bucket)s, %(since)s, %(until)s)
ORDER BY source, bucket_start;
