-- Artemis links that are no longer in include/config/artemis_entity_map.csv (the file is the whole truth).
DELETE FROM entity_map
WHERE source = %(source)s
  AND NOT (source_id = ANY(%(kept)s::text[]))
