-- Per source, as of %(as_of)s: the datasets whose latest pull that says anything about the API key rejected it.
-- Such a pull failed with ApiKeyRejected (the key is refused), succeeded with API calls (the key works), or was
-- skipped (no key configured). Other failures and successes answered from the cache say nothing about the key.
WITH decisive AS (
    SELECT DISTINCT ON (source, dataset) source, dataset, status, finished_at, error
    FROM pulls
    WHERE started_at > %(since)s AND finished_at <= %(as_of)s
      AND ((status = 'failed' AND error_kind = 'ApiKeyRejected')
           OR (status = 'success' AND api_calls > 0)
           OR status = 'skipped')
    ORDER BY source, dataset, finished_at DESC, id DESC
)
SELECT source,
       coalesce(array_agg(dataset ORDER BY dataset) FILTER (WHERE status = 'failed'), '{}') AS rejected_datasets,
       max(finished_at) FILTER (WHERE status = 'failed') AS latest_rejection_at,
       (array_agg(left(error, 500) ORDER BY finished_at DESC) FILTER (WHERE status = 'failed'))[1] AS latest_error
FROM decisive
GROUP BY source
ORDER BY source
