-- The price at the end of a candle_order_key, read with right(..., -10) instead of substr(..., 11): the same
-- characters (what follows the 10-digit event index), but substr() in a UTF-8 database counts the characters of the
-- whole string first, and this runs twice for every candle a refresh writes (measured: a fifth to a third less).
CREATE OR REPLACE FUNCTION candle_order_key_price(key text) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT right(split_part(key, chr(1), 2), -10)::numeric
$$;
