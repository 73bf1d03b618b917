-- Whale movements of one interval: transfers and swaps of tracked wallets whose USD value reaches the threshold.
-- A transfer is valued by its own token; a swap by its quote leg (USDC/USDT at par, SOL at its stored price), or by
-- the traded token when the quote leg has no price. No stored price: no USD value, so no movement.
-- Transfers of a wallet in a transaction where that wallet traded are legs of the swap, not movements of their own.
WITH tracked AS (
    SELECT address FROM wallets
), tx AS (
    SELECT signature FROM wallet_transactions
    WHERE block_time >= %(start)s AND block_time < %(end)s AND error IS NULL
), swaps AS (
    SELECT t.signature, t.event_index, t.block_time, t.trader AS wallet, t.mint, t.side, t.token_amount,
           t.quote_mint, t.quote_amount,
           coalesce((SELECT min(tt.transfer_index) FROM token_transfers tt
                     WHERE tt.signature = t.signature AND tt.mint = t.mint
                       AND t.trader IN (tt.from_address, tt.to_address)),
                    -1 - t.event_index) AS transfer_index
    FROM trades t
    JOIN tx USING (signature)
    JOIN tracked w ON w.address = t.trader
), transfers AS (
    SELECT tt.signature, tt.transfer_index, tt.block_time, tt.mint, tt.amount,
           CASE WHEN wf.address IS NOT NULL THEN tt.from_address ELSE tt.to_address END AS wallet,
           CASE WHEN wf.address IS NOT NULL THEN tt.to_address ELSE tt.from_address END AS counterparty,
           CASE WHEN wf.address IS NOT NULL THEN 'out' ELSE 'in' END AS direction
    FROM token_transfers tt
    JOIN tx USING (signature)
    LEFT JOIN tracked wf ON wf.address = tt.from_address
    LEFT JOIN tracked wt ON wt.address = tt.to_address
    WHERE (wf.address IS NOT NULL OR wt.address IS NOT NULL) AND tt.amount > 0
      AND NOT EXISTS (SELECT 1 FROM trades t2 JOIN tracked w2 ON w2.address = t2.trader
                      WHERE t2.signature = tt.signature AND t2.trader IN (tt.from_address, tt.to_address))
), candidates AS (
    SELECT signature, transfer_index, block_time, wallet, counterparty, 'transfer' AS kind, direction,
           NULL::text AS side, NULL::integer AS event_index, mint, amount, NULL::text AS quote_mint,
           NULL::numeric AS quote_amount
    FROM transfers
    UNION ALL
    SELECT signature, transfer_index, block_time, wallet, NULL, 'swap', CASE side WHEN 'buy' THEN 'in' ELSE 'out' END,
           side, event_index, mint, token_amount, quote_mint, quote_amount
    FROM swaps
), valued AS (
    SELECT c.*,
           CASE WHEN q.price_usd IS NOT NULL THEN c.quote_mint ELSE c.mint END AS valued_mint,
           coalesce(q.price_usd, p.price_usd) AS price_usd,
           CASE WHEN q.price_usd IS NOT NULL THEN q.price_source ELSE p.price_source END AS price_source,
           CASE WHEN q.price_usd IS NOT NULL THEN q.price_ts ELSE p.price_ts END AS price_ts,
           coalesce(c.quote_amount * q.price_usd, c.amount * p.price_usd) AS usd_value
    FROM candidates c
    LEFT JOIN LATERAL helius_price_usd(c.quote_mint, c.block_time, %(max_age)s::interval) q ON c.quote_mint IS NOT NULL
    LEFT JOIN LATERAL helius_price_usd(c.mint, c.block_time, %(max_age)s::interval) p ON true
)
SELECT DISTINCT ON (signature, transfer_index)
       signature, transfer_index, block_time, wallet, counterparty, kind, direction, side, event_index, mint,
       amount, quote_mint, quote_amount, usd_value, valued_mint, price_usd, price_source, price_ts,
       %(threshold)s::numeric AS threshold_usd
FROM valued
WHERE usd_value >= %(threshold)s::numeric
ORDER BY signature, transfer_index, usd_value DESC, wallet
