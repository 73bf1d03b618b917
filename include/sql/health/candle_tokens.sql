-- Data health page: tokens to choose from: the watchlist and every token with Birdeye candles (a loose index scan
-- of the candles key, one probe per token), and whether each has candles from each candle source.
WITH RECURSIVE birdeye_tokens (token) AS (
    (SELECT token FROM candles WHERE source = 'birdeye' ORDER BY token LIMIT 1)
    UNION ALL
    SELECT (SELECT c.token FROM candles c WHERE c.source = 'birdeye' AND c.token > b.token ORDER BY c.token LIMIT 1)
    FROM birdeye_tokens b
    WHERE b.token IS NOT NULL
), choices AS (
    SELECT address AS token FROM watchlist
    UNION
    SELECT token FROM birdeye_tokens WHERE token IS NOT NULL
)
SELECT ch.token,
       coalesce(nullif(w.symbol, ''), t.symbol) AS symbol,
       EXISTS (SELECT 1 FROM candles c WHERE c.source = 'birdeye' AND c.token = ch.token) AS has_birdeye,
       EXISTS (SELECT 1 FROM candles c WHERE c.source = 'trades' AND c.token = ch.token) AS has_trades
FROM choices ch
LEFT JOIN watchlist w ON w.address = ch.token
LEFT JOIN tokens t ON t.mint = ch.token
ORDER BY symbol NULLS LAST, ch.token;
