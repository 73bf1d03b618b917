-- Per source: API calls and failed calls (HTTP errors, 429s, timeouts; every attempt counts) of the pulls that ran in
-- (%(window_start)s, %(as_of)s] and had finished by then.
SELECT source,
       sum(api_calls)::bigint   AS api_calls,
       sum(http_errors)::bigint AS http_errors,
       sum(http_429s)::bigint   AS http_429s,
       count(*)                 AS pulls,
       (array_agg(left(error, 300) ORDER BY finished_at DESC) FILTER (WHERE status = 'failed'))[1] AS latest_error
FROM pulls
WHERE started_at > %(window_start)s AND finished_at <= %(as_of)s
GROUP BY source
ORDER BY source
