-- Data health page: freshness per source and dataset (stale first).
SELECT source, dataset, data_table, newest_data_at, data_age, last_loaded_interval_end, interval_lag, last_status,
       dag_id, last_finished_at, last_error, stale_after, stale
FROM v_data_freshness
ORDER BY stale DESC NULLS LAST, source, dataset NULLS LAST, data_table;
