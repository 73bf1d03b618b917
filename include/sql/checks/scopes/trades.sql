-- The trades whose block time lies in [window_start, window_end), whichever feed delivered them.
SELECT signature, event_index, source, block_time, trader, mint, side, token_amount, quote_mint, quote_amount, price
FROM trades
WHERE block_time >= %(window_start)s AND block_time < %(window_end)s
