-- One check's result (after delete_results.sql in the same transaction; the upsert covers a concurrent re-check).
INSERT INTO check_results (dag_id, task_id, run_id, try_number, source, dataset, interval_start, interval_end,
                           check_name, table_name, status, offending_rows, sample, message, settings)
VALUES (%(dag_id)s, %(task_id)s, %(run_id)s, %(try_number)s, %(source)s, %(dataset)s, %(interval_start)s,
        %(interval_end)s, %(check_name)s, %(table_name)s, %(status)s, %(offending_rows)s, %(sample)s, %(message)s,
        %(settings)s)
ON CONFLICT (dag_id, task_id, interval_start, interval_end, check_name, table_name) DO UPDATE
SET run_id = EXCLUDED.run_id, try_number = EXCLUDED.try_number, status = EXCLUDED.status,
    offending_rows = EXCLUDED.offending_rows, sample = EXCLUDED.sample, message = EXCLUDED.message,
    settings = EXCLUDED.settings, checked_at = now()
