-- Derived (trades) vs Birdeye closes per token and interval, over the buckets that lie inside the window and that
-- both sources have. Derived prices are in SOL per token and Birdeye's in USD, so the derived close is converted
-- with Birdeye's own wrapped-SOL close of the same bucket; buckets without it are not compared.
WITH derived AS (
    SELECT d.token, d.interval, d.bucket_start, d.close
    FROM candles d
    WHERE d.source = 'trades' AND d.interval = ANY (%(intervals)s) AND d.token <> %(sol_mint)s
      AND d.bucket_start >= %(window_start)s AND d.bucket_start < %(window_end)s
      AND d.bucket_start + CASE d.interval WHEN '1m' THEN interval '1 minute' WHEN '5m' THEN interval '5 minutes'
                                           WHEN '15m' THEN interval '15 minutes' WHEN '1h' THEN interval '1 hour'
                                           WHEN '6h' THEN interval '6 hours' ELSE interval '24 hours' END
          <= %(window_end)s
), pairs AS (
    SELECT d.token, d.interval, d.close * sol.close AS derived_usd, b.close AS birdeye_usd
    FROM derived d
    JOIN candles b ON b.source = 'birdeye' AND b.token = d.token AND b.interval = d.interval
                  AND b.bucket_start = d.bucket_start
    JOIN candles sol ON sol.source = 'birdeye' AND sol.token = %(sol_mint)s AND sol.interval = d.interval
                    AND sol.bucket_start = d.bucket_start
    WHERE b.close > 0 AND sol.close > 0
)
SELECT token, interval, count(*) AS buckets,
       count(*) FILTER (WHERE abs(derived_usd - birdeye_usd) > %(tolerance)s::numeric * birdeye_usd) AS mismatched,
       max(abs(derived_usd - birdeye_usd) / birdeye_usd) AS max_rel_diff
FROM pairs
GROUP BY token, interval
ORDER BY token, interval
