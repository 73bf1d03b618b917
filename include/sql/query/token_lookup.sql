-- Tokens whose mint is the given text or whose symbol is it (case-insensitive), from the watchlist and `tokens`,
-- and whether any candles exist for them.
SELECT t.mint, t.symbol, t.name, t.in_watchlist,
       EXISTS (SELECT 1 FROM candles c WHERE c.source = ANY(%(sources)s) AND c.token = t.mint) AS has_candles
FROM (
    SELECT address AS mint, symbol, name, true AS in_watchlist
    FROM watchlist WHERE address = %(text)s OR lower(symbol) = lower(%(text)s)
    UNION ALL
    SELECT mint, symbol, name, false
    FROM tokens WHERE mint = %(text)s OR lower(symbol) = lower(%(text)s)
    UNION ALL
    -- a mint with candles that neither table knows
    SELECT %(text)s::text, NULL, NULL, false
    WHERE EXISTS (SELECT 1 FROM candles WHERE source = ANY(%(sources)s) AND token = %(text)s)
) t
