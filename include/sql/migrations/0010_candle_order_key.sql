-- Open and close of a derived candle are the prices of its first and last trade in (block_time, signature,
-- event_index) order. PostgreSQL has no "value at the minimum of another column" aggregate, so each trade that makes
-- candles carries one text whose byte order (COLLATE "C") is exactly that order and which ends with the price:
-- min() and max() of it, in the same pass that sums the volumes, are the open and close trades.
--   17-digit epoch microseconds || signature || chr(1) || 10-digit event_index + 2^31 || price
-- chr(1) sorts below every character a signature has, so a signature that is a prefix of another still sorts first,
-- as it does compared on its own. NULL for trades that make no candles (not quoted in wrapped SOL, no positive price
-- or amount), so the refresh reads the eligibility from the same column.

CREATE FUNCTION candle_order_key(block_time timestamptz, signature text, event_index integer, price numeric)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT lpad((extract(epoch FROM block_time - timestamptz '1970-01-01 00:00:00+00') * 1000000)::bigint::text, 17, '0')
           || signature || chr(1) || lpad((event_index::bigint + 2147483648)::text, 10, '0') || price::text
$$;

-- The price at the end of a candle_order_key.
CREATE FUNCTION candle_order_key_price(key text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT substr(key, strpos(key, chr(1)) + 11)::numeric
$$;

ALTER TABLE trades ADD COLUMN candle_key text COLLATE "C" GENERATED ALWAYS AS (
    CASE WHEN quote_mint = 'So11111111111111111111111111111111111111112' AND price > 0 AND token_amount > 0
         THEN candle_order_key(block_time, signature, event_index, price) END
) STORED;

-- How many (token, minute) buckets trades hold: without it the planner guesses far too many for the rebuild's
-- GROUP BY and sorts the whole table (5x slower at 10M trades) instead of hashing the buckets.
CREATE STATISTICS trades_mint_minute (ndistinct)
    ON mint, date_bin('1 minute', block_time, timestamptz '1970-01-01 00:00:00+00') FROM trades;
