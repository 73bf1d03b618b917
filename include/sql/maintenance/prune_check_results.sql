-- Check results recorded before the cutoff; the latest result of each check (what v_check_status shows) is kept.
DELETE FROM check_results
WHERE checked_at < %(cutoff)s
  AND id NOT IN (
      SELECT DISTINCT ON (source, dataset, check_name, table_name) id
      FROM check_results
      ORDER BY source, dataset, check_name, table_name, interval_end DESC, checked_at DESC
  )
