-- Non-negative amounts: a TVL, volume, fee or supply below zero is a parsing or source error. Offending rows: the
-- rows where one of the checked columns is negative.
WITH scoped AS (
{scope}
)
SELECT *
FROM scoped
WHERE {negative}
ORDER BY {key}
