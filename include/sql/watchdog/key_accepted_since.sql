-- When a pull of this source and dataset last got through with API calls after %(since)s (NULL: not since then).
SELECT max(finished_at)
FROM pulls
WHERE source = %(source)s AND dataset = %(dataset)s AND status = 'success' AND api_calls > 0
  AND finished_at > %(since)s
