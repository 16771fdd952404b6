-- Orders as the consumer stores them: one row per order_id, holding the newest version seen.
-- kafka_partition / kafka_offset / processed_by / processed_at say which message and which consumer wrote the row.
CREATE TABLE IF NOT EXISTS orders (
    order_id        uuid           PRIMARY KEY,
    customer_id     text           NOT NULL,
    customer_name   text           NOT NULL,
    restaurant      text           NOT NULL,
    items           jsonb          NOT NULL,
    total_amount    numeric(10, 2) NOT NULL CHECK (total_amount >= 0),
    status          text           NOT NULL,
    created_at      timestamptz    NOT NULL,
    customer_seq    bigint         NOT NULL,
    version         integer        NOT NULL,
    kafka_partition integer        NOT NULL,
    kafka_offset    bigint         NOT NULL,
    -- Time the producer handed the message to Kafka (the record's CreateTime): latency = processed_at - produced_at.
    produced_at     timestamptz,
    processed_by    text           NOT NULL,
    processed_at    timestamptz    NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX IF NOT EXISTS orders_customer_id_idx ON orders (customer_id);
