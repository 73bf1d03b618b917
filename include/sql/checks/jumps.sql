-- Suspicious jumps (recorded as warnings, not failures): a value more than max_ratio times the previous one of its
-- series, or less than the previous one divided by max_ratio; zero next to a non-zero value is a jump too. Rows before
-- report_from only serve as the previous value of the first reported ones. Offending rows: the jumps, largest first.
WITH scoped AS (
{scope}
),
paired AS (
    SELECT {series}, {ts} AS at, {value} AS value,
           lag({ts}) OVER w AS previous_at, lag({value}) OVER w AS previous
    FROM scoped
    WINDOW w AS (PARTITION BY {series} ORDER BY {ts})
)
SELECT *, CASE WHEN previous > 0 AND value > 0 THEN round(greatest(value / previous, previous / value), 2) END AS ratio
FROM paired
WHERE at >= %(report_from)s
  AND previous >= 0 AND value >= 0
  AND CASE WHEN previous = 0 AND value = 0 THEN false
           WHEN previous = 0 OR value = 0 THEN true
           ELSE greatest(value / previous, previous / value) > %(max_ratio)s END
ORDER BY ratio DESC NULLS FIRST, at
