-- Row count: when the interval's last successful pull loaded valid records, the interval's rows must number at least
-- min_rows. How many rows an interval should hold is unknowable for these sources (a quiet minute has no candle,
-- a wallet may not trade), so this is a floor, and only when the source did answer with records.
WITH counted AS (
    SELECT count(*) AS row_count FROM (
{scope}
    ) scoped
),
pulled AS (
    SELECT id AS pull_id, records_fetched - records_rejected AS valid_records
    FROM pulls
    WHERE source = %(pull_source)s AND dataset = %(pull_dataset)s AND status = 'success'
      AND interval_start = %(interval_start)s AND interval_end = %(interval_end)s
      AND started_at >= %(interval_start)s   -- a pull starts after its interval did: a short range of the index
    ORDER BY id DESC
    LIMIT 1
)
SELECT c.row_count, p.valid_records, %(min_rows)s AS min_rows, p.pull_id
FROM counted c
LEFT JOIN pulled p ON true
WHERE coalesce(p.valid_records, 0) > 0 AND c.row_count < %(min_rows)s
