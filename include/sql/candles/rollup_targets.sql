-- The buckets of a coarser interval that contain a targeted bucket of the finer one.
INSERT INTO {targets} (token, bucket_start)
SELECT DISTINCT token, date_bin(%(width)s::interval, bucket_start, timestamptz '1970-01-01 00:00:00+00')
FROM {child_targets}
