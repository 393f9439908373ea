-- The audit table, portable down to ClickHouse 18.16: no DateTime64, TTL,
-- codecs or LowCardinality here (later migrations add them on newer servers).
-- ReplacingMergeTree keyed on (server_id, ts, request_id): a replayed row is
-- identical to the first copy, so merges collapse it; read with FINAL or count
-- uniqExact(request_id) for exact figures before a merge.
-- {database} and {table} are filled in by `sark migrate`.
CREATE TABLE IF NOT EXISTS {database}.{table}
(
    schema_version  UInt8,
    ts              DateTime,
    ts_ms           UInt64,
    request_id      String,
    session_id      Nullable(String),
    agent_id        String,
    agent_type      String,
    tenant          Nullable(String),
    server_id       String,
    method          Nullable(String),
    action          String,
    tool            Nullable(String),
    era             Nullable(String),
    decision        Enum8('allow' = 1, 'deny' = 2),
    reasons         Array(String),
    policy_revision Nullable(String),
    cache_hit       UInt8,
    total_ms        Float32,
    policy_ms       Float32,
    upstream_ms     Nullable(Float32),
    upstream_status Nullable(UInt16),
    client_address  Nullable(String),
    trace_id        Nullable(String),
    args_digest     Nullable(String),
    args_redacted   Nullable(String)
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(ts)
ORDER BY (server_id, ts, request_id)
SETTINGS index_granularity = 8192;

-- De-duplicated reads without remembering FINAL.
CREATE VIEW IF NOT EXISTS {database}.{table}_final AS SELECT * FROM {database}.{table} FINAL;
