-- Keep at most one intraday snapshot point per (asset, metric, UTC day): the latest. Midnight (daily) points are
-- never touched. Runs inside the load transaction of an hourly dataset whose series end with a live snapshot.
DELETE FROM metrics m
WHERE m.source = 'defillama'
  AND m.metric = ANY(%(metrics)s)
  AND m.ts >= %(since)s
  AND m.ts <> date_trunc('day', m.ts, 'UTC')
  AND EXISTS (
      SELECT 1
      FROM metrics n
      WHERE n.source = m.source AND n.asset = m.asset AND n.metric = m.metric
        AND n.ts > m.ts
        AND n.ts < date_trunc('day', m.ts, 'UTC') + interval '1 day'
        AND n.ts <> date_trunc('day', n.ts, 'UTC')
  );
