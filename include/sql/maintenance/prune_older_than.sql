-- Rows of {table} whose {column} lies before the cutoff (the run's interval end minus the table's retention).
DELETE FROM {table} WHERE {column} < %(cutoff)s
