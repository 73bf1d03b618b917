-- Recomputed candles that cannot be right (the refresh writes them anyway; the DAG's check task then fails loudly).
SELECT token, bucket_start, open, high, low, close, volume, trade_count
FROM {new}
WHERE NOT (low <= least(open, close) AND high >= greatest(open, close) AND low > 0
           AND volume > 0 AND volume_quote > 0 AND trade_count > 0
           -- VWAP within the range up to rounding (prices are quote / token, rounded by whoever stored them); the
           -- plain comparison first, so the multiplications run only for the buckets it does not settle
           AND (vwap BETWEEN low AND high OR vwap BETWEEN low * (1 - 1e-9) AND high * (1 + 1e-9)))
ORDER BY bucket_start, token
LIMIT 20
