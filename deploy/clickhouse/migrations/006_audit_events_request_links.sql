-- Audit schema 3: one HTTP request may carry several decisions (batch
-- elements, the resources a subscription covers, the prompt a completion
-- references). `request_id` stays unique per row — the ReplacingMergeTree
-- key, so a replayed row still collapses into its first copy — and these
-- columns link the rows of one request and say where each came from.
-- Plain ADD COLUMN (18.16 has no IF NOT EXISTS here): `sark migrate` treats
-- "already exists" from an ADD COLUMN as done, so an interrupted run can be
-- run again. Rows written before this migration read the defaults.
ALTER TABLE {database}.{table}
    ADD COLUMN http_request_id String DEFAULT request_id,
    ADD COLUMN message_index UInt16 DEFAULT 0,
    ADD COLUMN implied_by Nullable(String);
