-- Names a token can be given by (watchlist symbols and mints, symbols of tokens that have candles), for suggestions.
WITH RECURSIVE candle_tokens AS (
    (SELECT source, token FROM candles ORDER BY source, token LIMIT 1)
    UNION ALL
    SELECT next.source, next.token
    FROM candle_tokens, LATERAL (
        SELECT c.source, c.token FROM candles c
        WHERE (c.source, c.token) > (candle_tokens.source, candle_tokens.token)
        ORDER BY c.source, c.token
        LIMIT 1
    ) next
)
SELECT symbol, address AS mint FROM watchlist
UNION
SELECT coalesce(k.symbol, w.symbol), ct.token
FROM candle_tokens ct
LEFT JOIN tokens k ON k.mint = ct.token
LEFT JOIN watchlist w ON w.address = ct.token
