-- A re-check of an interval replaces the task's earlier results for it (checks that no longer run included).
DELETE FROM check_results
WHERE dag_id = %(dag_id)s AND task_id = %(task_id)s
  AND interval_start = %(interval_start)s AND interval_end = %(interval_end)s
