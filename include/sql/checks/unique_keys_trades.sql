-- One trade stored twice under different keys: the same swap of a transaction (signature, mint, side) under two event
-- indexes, by the same trader, or once from Helius and once from a stream (the stream numbers its own trades and
-- must skip those Helius already stored; Helius overwrites by key). Offending rows: the swaps concerned.
WITH scoped AS (
{scope}
)
SELECT signature, mint, side, count(*) AS trades, array_agg(event_index ORDER BY event_index) AS event_indexes,
       array_agg(DISTINCT source) AS sources, array_agg(DISTINCT trader) AS traders, min(block_time) AS block_time
FROM scoped
GROUP BY signature, mint, side
HAVING count(*) > 1
   AND (count(DISTINCT coalesce(trader, '')) < count(*) OR (bool_or(source = 'helius') AND bool_or(source <> 'helius')))
ORDER BY min(block_time), signature
