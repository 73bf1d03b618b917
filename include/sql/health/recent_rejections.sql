-- Data health page: the newest rejected records.
SELECT rejected_at, source, dataset, interval_start, interval_end, reason, left(record::text, %(record_chars)s) AS record
FROM rejected_records
ORDER BY rejected_at DESC, id DESC
LIMIT %(limit)s;
