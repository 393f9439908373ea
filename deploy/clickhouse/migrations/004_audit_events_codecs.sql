-- requires: 19.11
-- Column codecs (19.11+ for Delta/DoubleDelta/Gorilla): monotonic timestamps
-- and latencies compress far better than with the default LZ4 alone.
ALTER TABLE {database}.{table}
    MODIFY COLUMN ts_ms UInt64 CODEC(DoubleDelta, ZSTD(1)),
    MODIFY COLUMN total_ms Float32 CODEC(Gorilla, ZSTD(1)),
    MODIFY COLUMN policy_ms Float32 CODEC(Gorilla, ZSTD(1));
