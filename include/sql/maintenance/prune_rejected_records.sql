DELETE FROM rejected_records WHERE rejected_at < %(cutoff)s
