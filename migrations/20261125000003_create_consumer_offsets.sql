-- With OFFSET_STORE=postgres, the next offset each consumer group reads in each partition of each topic, written in
-- the same transaction as the batch's rows, so that rows and offset can never disagree after a crash; a member
-- newly assigned a partition starts there (consumer/src/offsets.rs). Kafka's committed offsets are still written
-- after each batch (lag tooling reads them) and are never ahead of these. Unused with OFFSET_STORE=kafka.
CREATE TABLE IF NOT EXISTS consumer_offsets (
    group_id        text        NOT NULL,
    topic           text        NOT NULL,
    kafka_partition integer     NOT NULL,
    -- One past the last message stored or dead-lettered: where the partition's next owner starts.
    next_offset     bigint      NOT NULL CHECK (next_offset >= 0),
    updated_by      text        NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (group_id, topic, kafka_partition)
);

-- orders_app needs exactly what it needs on orders, for the same reasons: INSERT for a partition's first offset,
-- UPDATE to move it on, SELECT because ON CONFLICT … DO UPDATE … WHERE reads the stored row and because a member
-- reads its start offsets on assignment. No DELETE, no TRUNCATE: resetting a group's offsets is the owner's job.
-- As in 20261125000002_grant_orders_app.sql, a server without the role has nothing to grant, and a role created
-- later needs this GRANT run once by the owner (docs/security.md).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'orders_app') THEN
        GRANT SELECT, INSERT, UPDATE ON TABLE consumer_offsets TO orders_app;
    END IF;
END
$$;
