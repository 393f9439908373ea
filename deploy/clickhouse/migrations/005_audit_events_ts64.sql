-- requires: 20.5
-- A millisecond DateTime64 view of ts_ms for time functions that want one
-- (DateTime64 and fromUnixTimestamp64Milli are 20.5+). Computed on read for
-- old parts, stored for new ones.
ALTER TABLE {database}.{table}
    ADD COLUMN IF NOT EXISTS ts64 DateTime64(3) MATERIALIZED fromUnixTimestamp64Milli(toInt64(ts_ms));
