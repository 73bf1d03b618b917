-- The live trade stream, as of %(as_of)s: whether it ever ran against this warehouse (its stream_status row), and
-- when it last wrote a trade in (%(since)s, %(as_of)s] (trades first delivered by the stream keep its source and
-- ingest time). The lower bound keeps the backward walk of trades_ingested_at short when the stream has been silent
-- for long or never wrote a trade: without it, every run would read all trades other feeds ingested meanwhile.
SELECT s.stream IS NOT NULL AS has_run,
       s.state,
       s.started_at,
       s.updated_at AS heartbeat_at,
       (SELECT max(t.ingested_at) FROM trades t
        WHERE t.source = ANY(%(trade_sources)s::text[])
          AND t.ingested_at > %(since)s AND t.ingested_at <= %(as_of)s) AS last_produced_at
FROM (SELECT %(stream)s::text AS name) AS wanted
LEFT JOIN stream_status s ON s.stream = wanted.name
