-- The DefiLlama protocol catalog as the last daily run left it (it holds the present, not a history).
SELECT slug, name, tvl
FROM protocols
