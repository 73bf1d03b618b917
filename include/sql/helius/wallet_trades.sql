-- Every stored trade (any feed) of the given wallets, in execution order, with the USD price of its quote token at
-- the trade's minute (one price lookup per quote token and minute: Memoize caches it across a busy wallet's trades).
SELECT t.trader, t.mint, t.block_time, t.side, t.token_amount, t.quote_mint, t.quote_amount, p.price_usd
FROM trades t
LEFT JOIN LATERAL helius_price_usd(t.quote_mint, date_trunc('minute', t.block_time), %(max_age)s::interval) p ON true
WHERE t.trader = ANY (%(wallets)s)
ORDER BY t.trader, t.mint, t.block_time, t.slot NULLS FIRST, t.signature, t.event_index
