-- A range rebuild recomputes every bucket of the range, so the change-log rows inside it are done. Deleted before
-- the trades are read (this statement's snapshot is older than the reading statement's), so a trade committed in
-- between is both read now and left in the log for the next incremental refresh, never neither.
DELETE FROM candles_dirty WHERE minute >= %(range_start)s AND minute < %(range_end)s
