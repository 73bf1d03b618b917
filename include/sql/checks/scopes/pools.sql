-- The DefiLlama yields pools as the last daily run left them (they hold the present, not a history).
SELECT pool, chain, project, tvl_usd, volume_usd_1d, volume_usd_7d
FROM pools
