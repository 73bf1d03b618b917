-- Helius: enhanced transactions of tracked wallets and watchlist tokens, their token transfers, whale movements and
-- alerts, FIFO wallet statistics, and the USD price lookup they share.

CREATE TABLE wallet_transactions (
    signature         text        PRIMARY KEY,
    slot              bigint      NOT NULL,
    block_time        timestamptz NOT NULL,
    type              text        NOT NULL,            -- Helius TransactionType, 'UNKNOWN' when unparsed
    source            text        NOT NULL,            -- Helius TransactionSource (JUPITER, PUMP_FUN, ...)
    fee               bigint      NOT NULL,            -- lamports
    fee_payer         text        NOT NULL,
    description       text        NOT NULL DEFAULT '', -- '' for UNKNOWN transactions
    error             jsonb,                           -- transactionError; NULL when the transaction succeeded
    events            text[]      NOT NULL DEFAULT '{}',
    tracked_addresses text[]      NOT NULL,            -- the tracked wallets / watchlist mints it was fetched for
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX wallet_transactions_block_time ON wallet_transactions (block_time);
CREATE INDEX wallet_transactions_tracked ON wallet_transactions USING gin (tracked_addresses);

CREATE TABLE token_transfers (
    signature          text        NOT NULL,
    transfer_index     integer     NOT NULL,   -- token transfers in API order, then native SOL transfers
    block_time         timestamptz NOT NULL,
    slot               bigint      NOT NULL,
    kind               text        NOT NULL CHECK (kind IN ('token', 'native')),
    mint               text        NOT NULL,   -- wrapped SOL mint for native SOL
    from_address       text,                   -- owner (user account), not the token account
    to_address         text,
    from_token_account text,
    to_token_account   text,
    amount             numeric     NOT NULL,   -- decimal-adjusted
    raw_amount         numeric,                -- base units; NULL when the decimals are unknown
    decimals           integer,
    token_standard     text,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (signature, transfer_index)
);
CREATE INDEX token_transfers_from ON token_transfers (from_address, block_time);
CREATE INDEX token_transfers_to ON token_transfers (to_address, block_time);
CREATE INDEX token_transfers_mint_time ON token_transfers (mint, block_time);
CREATE INDEX token_transfers_block_time ON token_transfers (block_time);

-- A swap is anchored at the wallet's first transfer of the traded token in the transaction (or -1 - event_index
-- when the wallet had none), so one swap is one movement, never one per leg.
CREATE TABLE whale_movements (
    signature      text        NOT NULL,
    transfer_index integer     NOT NULL,
    block_time     timestamptz NOT NULL,
    wallet         text        NOT NULL,
    counterparty   text,
    kind           text        NOT NULL CHECK (kind IN ('transfer', 'swap')),
    direction      text        NOT NULL CHECK (direction IN ('in', 'out')),
    side           text        CHECK (side IN ('buy', 'sell')),
    event_index    integer,                -- the trade (swaps)
    mint           text        NOT NULL,
    amount         numeric     NOT NULL,
    quote_mint     text,
    quote_amount   numeric,
    usd_value      numeric     NOT NULL,
    valued_mint    text        NOT NULL,   -- the leg whose stored price gave usd_value
    price_usd      numeric     NOT NULL,
    price_source   text        NOT NULL,
    price_ts       timestamptz NOT NULL,
    threshold_usd  numeric     NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (signature, transfer_index)
);
CREATE INDEX whale_movements_wallet_time ON whale_movements (wallet, block_time);
CREATE INDEX whale_movements_block_time ON whale_movements (block_time);

-- One row per whale movement ever alerted on (or deliberately not), written in the load transaction that sends the
-- alert: a re-run finds the row and does not send again. 'undelivered' (no channel reached) is retried by re-runs.
CREATE TABLE whale_alerts (
    signature      text        NOT NULL,
    transfer_index integer     NOT NULL,
    wallet         text        NOT NULL,
    block_time     timestamptz NOT NULL,
    usd_value      numeric     NOT NULL,
    status         text        NOT NULL CHECK (status IN ('sent', 'undelivered', 'suppressed_stale')),
    channels       text[]      NOT NULL DEFAULT '{}',
    dag_id         text,
    run_id         text,
    decided_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (signature, transfer_index)
);
CREATE INDEX whale_alerts_decided_at ON whale_alerts (decided_at);

CREATE TABLE wallet_token_stats (
    wallet                text        NOT NULL,
    mint                  text        NOT NULL,
    quote_mint            text,                   -- NULL when the trades used several quote tokens
    trades                integer     NOT NULL,
    buys                  integer     NOT NULL,
    sells                 integer     NOT NULL,
    bought_amount         numeric     NOT NULL,
    sold_amount           numeric     NOT NULL,
    unmatched_sell_amount numeric     NOT NULL,   -- sold beyond what was bought since tracking began
    open_amount           numeric     NOT NULL,
    open_cost_quote       numeric,
    open_cost_usd         numeric,
    realized_pnl_quote    numeric,                -- NULL with several quote tokens
    realized_pnl_usd      numeric     NOT NULL,   -- of the matched parts whose USD value is known
    usd_complete          boolean     NOT NULL,   -- false when some matched trade had no USD price
    closed_positions      integer     NOT NULL,
    wins                  integer     NOT NULL,
    losses                integer     NOT NULL,
    win_rate              numeric,                -- wins / (wins + losses); NULL before any scored position
    first_trade_at        timestamptz NOT NULL,
    last_trade_at         timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (wallet, mint)
);

CREATE TABLE wallet_stats (
    wallet                text        PRIMARY KEY,
    tokens_traded         integer     NOT NULL,
    trades                integer     NOT NULL,
    closed_positions      integer     NOT NULL,
    wins                  integer     NOT NULL,
    losses                integer     NOT NULL,
    win_rate              numeric,
    realized_pnl_usd      numeric     NOT NULL,
    usd_complete          boolean     NOT NULL,
    realized_pnl_by_quote jsonb       NOT NULL DEFAULT '{}',   -- quote mint -> realized PnL in that token
    first_trade_at        timestamptz NOT NULL,
    last_trade_at         timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX trades_trader_mint_time ON trades (trader, mint, block_time);

-- The USD price of a token at a time, from stored prices only; no row when none is recent enough (never a guess).
-- In order: USDC/USDT (pegged, 1), the newest Birdeye candle starting at or before p_at (smallest interval first;
-- its close), token_prices.price_usd stamped within p_max_age of p_at, the newest trade against USDC/USDT, the
-- newest trade against SOL times SOL's own USD price. Only prices at most p_max_age old are used.
CREATE FUNCTION helius_price_usd(p_mint text, p_at timestamptz, p_max_age interval)
RETURNS TABLE (price_usd numeric, price_source text, price_ts timestamptz)
LANGUAGE plpgsql STABLE STRICT ROWS 1 COST 50 AS $$
DECLARE
    sol CONSTANT text := 'So11111111111111111111111111111111111111112';
    stables CONSTANT text[] := ARRAY['EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
                                     'Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB'];
    sol_usd numeric;
BEGIN
    IF p_mint = ANY (stables) THEN
        RETURN QUERY SELECT 1::numeric, 'peg'::text, p_at;
        RETURN;
    END IF;

    RETURN QUERY
        SELECT c.close, 'birdeye_' || c.interval, c.bucket_start
        FROM candles c
        WHERE c.source = 'birdeye' AND c.token = p_mint
          AND c.bucket_start <= p_at AND c.bucket_start > p_at - p_max_age
        ORDER BY c.bucket_start DESC,
                 CASE right(c.interval, 1) WHEN 'm' THEN 60 WHEN 'h' THEN 3600 ELSE 86400 END
                     * coalesce(nullif(regexp_replace(c.interval, '\D', '', 'g'), '')::int, 1)
        LIMIT 1;
    IF FOUND THEN RETURN; END IF;

    RETURN QUERY
        SELECT tp.price_usd, 'token_prices'::text, tp.ts
        FROM token_prices tp
        WHERE tp.mint = p_mint AND tp.price_usd IS NOT NULL
          AND tp.ts > p_at - p_max_age AND tp.ts < p_at + p_max_age;
    IF FOUND THEN RETURN; END IF;

    RETURN QUERY
        SELECT t.price, 'trade_vs_stable'::text, t.block_time
        FROM trades t
        WHERE t.mint = p_mint AND t.quote_mint = ANY (stables) AND t.price > 0
          AND t.block_time <= p_at AND t.block_time > p_at - p_max_age
        ORDER BY t.block_time DESC, t.signature DESC, t.event_index DESC
        LIMIT 1;
    IF FOUND OR p_mint = sol THEN RETURN; END IF;

    SELECT p.price_usd INTO sol_usd FROM helius_price_usd(sol, p_at, p_max_age) p;
    IF sol_usd IS NULL THEN RETURN; END IF;
    RETURN QUERY
        SELECT t.price * sol_usd, 'trade_vs_sol'::text, t.block_time
        FROM trades t
        WHERE t.mint = p_mint AND t.quote_mint = sol AND t.price > 0
          AND t.block_time <= p_at AND t.block_time > p_at - p_max_age
        ORDER BY t.block_time DESC, t.signature DESC, t.event_index DESC
        LIMIT 1;
END
$$;
