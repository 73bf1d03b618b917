-- The buckets of a coarser interval that contain a targeted bucket of the finer one: its other targets (those left
-- without trades; in an incremental refresh the targets hold every recomputed bucket) and its recomputed candles.
-- In a range rebuild, a bucket wholly inside the range is not a target: every child of it was recomputed (its
-- candle comes from the work table alone) or emptied (then it is a target through that child). What is left are the
-- buckets across the range's ends, which also read stored children from outside the range.
INSERT INTO {targets} (token, bucket_start)
SELECT DISTINCT token, date_bin(%(width)s::interval, bucket_start, timestamptz '1970-01-01 00:00:00+00')
FROM (SELECT token, bucket_start FROM {child_targets}
      UNION ALL
      SELECT token, bucket_start FROM {child_new}
      WHERE NOT coalesce(date_bin(%(width)s::interval, bucket_start, timestamptz '1970-01-01 00:00:00+00')
                             >= %(inside_start)s
                         AND date_bin(%(width)s::interval, bucket_start, timestamptz '1970-01-01 00:00:00+00')
                             + %(width)s::interval <= %(inside_end)s,
                         false)) child
