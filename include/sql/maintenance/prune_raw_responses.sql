-- Raw responses older than the retention: the warehouse tables hold what was loaded from them.
DELETE FROM raw_responses WHERE fetched_at < %(cutoff)s
