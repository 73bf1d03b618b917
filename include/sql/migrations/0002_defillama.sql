-- DefiLlama catalog, daily snapshots and contract mappings (metrics go to the shared `metrics` table).

CREATE TABLE chains (
    slug         text PRIMARY KEY,          -- lower-case name, spaces as hyphens: 'ethereum', 'op-mainnet'
    name         text        NOT NULL,      -- DefiLlama's name, used in API paths: 'OP Mainnet'
    gecko_id     text,
    cmc_id       text,
    token_symbol text,
    chain_id     text,                      -- EVM chain id when there is one (DefiLlama sends it as a number or a string)
    tvl          numeric,                   -- current TVL when the catalog was last loaded
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE protocols (
    slug        text PRIMARY KEY,
    defillama_id text,
    name        text        NOT NULL,
    category    text,
    chains      text[]      NOT NULL DEFAULT '{}',
    gecko_id    text,
    cmc_id      text,
    parent      text,                       -- parentProtocol, e.g. 'parent#aave'
    url         text,
    symbol      text,
    address     text,                       -- as DefiLlama gives it; normalised forms are in contract_mappings
    tvl         numeric,                    -- current TVL (DefiLlama's default: without staking, pool2, borrowed)
    chain_tvls  jsonb,                      -- per real chain only; synthetic keys (-staking, borrowed, ...) removed
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX protocols_gecko_id ON protocols (gecko_id);

CREATE TABLE pools (
    pool              text PRIMARY KEY,     -- yields pool id (usually a UUID, sometimes an address)
    chain             text        NOT NULL,
    project           text        NOT NULL,
    symbol            text,
    pool_meta         text,
    tvl_usd           numeric,
    apy               numeric,
    apy_base          numeric,
    apy_reward        numeric,
    apy_base_7d       numeric,
    apy_mean_30d      numeric,
    apy_pct_1d        numeric,
    apy_pct_7d        numeric,
    apy_pct_30d       numeric,
    il_7d             numeric,
    volume_usd_1d     numeric,
    volume_usd_7d     numeric,
    stablecoin        boolean,
    il_risk           text,
    exposure          text,
    outlier           boolean,
    reward_tokens     text[],
    underlying_tokens text[],
    predicted_class   text,                 -- DefiLlama's APY outlook: predictions.predictedClass, ...
    predicted_probability numeric,
    binned_confidence smallint,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX pools_project ON pools (project);

-- One row per pool and UTC day: the pool at the end of that day (the daily run's /pools answer, fetched right
-- after the day ended, or yields /chart's last snapshot of the day for the pools configured for history).
CREATE TABLE pool_daily_snapshots (
    pool          text        NOT NULL,
    day           date        NOT NULL,
    tvl_usd       numeric,
    apy           numeric,
    apy_base      numeric,
    apy_reward    numeric,
    volume_usd_1d numeric,
    il_7d         numeric,
    apy_base_7d   numeric,
    snapshot_at   timestamptz NOT NULL,     -- when DefiLlama's value was taken (or fetched, for /pools)
    from_endpoint text        NOT NULL,     -- 'pools' or 'chart'
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool, day)
);
CREATE INDEX pool_daily_snapshots_day ON pool_daily_snapshots (day);

CREATE TABLE protocol_daily_snapshots (
    protocol       text        NOT NULL,
    day            date        NOT NULL,
    tvl            numeric,
    chain_tvls     jsonb,                   -- per real chain; no '-staking', '-borrowed', 'pool2', ... keys
    synthetic_tvls jsonb,                   -- the protocol-wide extras DefiLlama keeps apart: staking, pool2, borrowed, ...
    snapshot_at    timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (protocol, day)
);
CREATE INDEX protocol_daily_snapshots_day ON protocol_daily_snapshots (day);

CREATE TABLE contract_mappings (
    entity     text        NOT NULL,        -- protocol slug, or 'pool:<pool id>' for a pool's tokens
    chain      text        NOT NULL,        -- lower-case DefiLlama chain slug
    address    text        NOT NULL,        -- normalised: EVM lower-case hex, Solana base58 as is
    kind       text        NOT NULL,        -- protocol_token, pool_contract, underlying_token, reward_token
    confidence numeric(3, 2) NOT NULL CHECK (confidence BETWEEN 0.2 AND 1.0),
    evidence   text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, chain, address)
);
CREATE INDEX contract_mappings_address ON contract_mappings (chain, address);
