-- requires: 19.6
-- Retention: rows older than 400 days are removed by merges (table TTL
-- arrived in 19.6). Change the interval with a new migration, not here.
ALTER TABLE {database}.{table} MODIFY TTL ts + INTERVAL 400 DAY;
