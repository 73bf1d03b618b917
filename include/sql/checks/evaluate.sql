-- Runs one check (the query of its offending rows): how many rows it found, and the first sample_size of them in
-- the check's own order (json, not jsonb, keeps each row's columns in the query's order for the messages).
WITH offending AS MATERIALIZED (
{check}
)
SELECT (SELECT count(*) FROM offending) AS offending_rows,
       coalesce((SELECT json_agg(to_json(o)) FROM (SELECT * FROM offending LIMIT %(sample_size)s) o),
                '[]'::json) AS sample
