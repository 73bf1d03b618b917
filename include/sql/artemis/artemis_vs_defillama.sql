-- Artemis and DefiLlama series of the same entity, day by day (an example of the entity_map join).
-- entity_map maps each source's own id to one entity (the DefiLlama slug, or its parent protocol's slug):
--   ('artemis',   'sol')         -> 'solana'   written by artemis_daily from include/config/artemis_entity_map.csv
--   ('defillama', 'solana')      -> 'solana'   written by defillama_daily
--   ('defillama', 'aave-v3')     -> 'aave'     (a child protocol meets its parent's entity)
-- metrics.asset is the source's own id on both sides; both stamp daily points 00:00 UTC.
-- Parameters: artemis_metric (e.g. 'FEES'), defillama_metric (e.g. 'FEES_24H'), date_from, date_to.
SELECT ea.entity,
       ea.kind,
       a.asset     AS artemis_symbol,
       d.asset     AS defillama_slug,
       a.ts,
       a.value     AS artemis_value,
       d.value     AS defillama_value
FROM metrics a
JOIN entity_map ea ON ea.source = 'artemis' AND ea.source_id = a.asset
JOIN entity_map ed ON ed.source = 'defillama' AND ed.entity = ea.entity
JOIN metrics d ON d.source = 'defillama' AND d.asset = ed.source_id AND d.metric = %(defillama_metric)s
              AND d.ts = a.ts
WHERE a.source = 'artemis'
  AND a.metric = %(artemis_metric)s
  AND a.ts >= %(date_from)s AND a.ts < %(date_to)s
ORDER BY ea.entity, d.asset, a.ts
