-- The Helius transactions whose block time lies in [window_start, window_end).
SELECT signature, block_time, type, source
FROM wallet_transactions
WHERE block_time >= %(window_start)s AND block_time < %(window_end)s
