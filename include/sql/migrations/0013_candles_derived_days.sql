-- Which tokens have derived candles on a day, without reading every candle: a range rebuild (each scheduled
-- `candles` run rebuilds its 5 minutes) looks for stored 1m candles whose trades are gone, and the primary key
-- starts with the token. Every derived 1m candle has a derived 24h candle for its day (the refresh writes or deletes
-- a bucket's coarser buckets with it), so the day's 24h candles name the tokens to look up, one key range each. One
-- entry per token and day: next to nothing to maintain.
CREATE INDEX candles_derived_days ON candles (bucket_start) WHERE source = 'trades' AND interval = '24h';
