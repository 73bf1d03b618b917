-- Change-log rows waiting for the candles DAG. Each run deletes what it recomputes, so old rows here mean the DAG
-- is paused or failing: they are reported, never pruned (deleting them would leave those candles stale).
SELECT count(*) AS rows, min(changed_at) AS oldest_changed_at FROM candles_dirty
