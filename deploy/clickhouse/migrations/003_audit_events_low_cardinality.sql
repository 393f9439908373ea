-- requires: 19.9
-- Dictionary-encode the small-vocabulary columns (LowCardinality is
-- production-ready from 19.9 without the experimental setting). Key columns
-- (server_id) cannot be modified in place and stay String.
ALTER TABLE {database}.{table}
    MODIFY COLUMN agent_type LowCardinality(String),
    MODIFY COLUMN action LowCardinality(String),
    MODIFY COLUMN method LowCardinality(Nullable(String)),
    MODIFY COLUMN era LowCardinality(Nullable(String)),
    MODIFY COLUMN tenant LowCardinality(Nullable(String));
