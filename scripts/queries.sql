-- Queries to watch and check the pipeline. Run them all:
--   PGPASSWORD=kafka_pass psql -h 127.0.0.1 -U kafka_user -d food_orders -f scripts/queries.sql
-- or paste one into psql and add \watch 2 to repeat it every two seconds.

-- The seed queries.
SELECT COUNT(*) AS orders FROM orders;
SELECT ROUND(AVG(total_amount), 2) AS average_total FROM orders;
SELECT COUNT(DISTINCT customer_id) AS customers FROM orders;

-- Duplicates: an order_id stored twice. Always 0 rows (order_id is the primary key; the upsert keeps one row).
SELECT order_id, COUNT(*) AS copies FROM orders GROUP BY order_id HAVING COUNT(*) > 1;

-- Who stored what: rows per consumer (client id) and per partition.
SELECT processed_by, COUNT(*) AS orders, MIN(processed_at) AS first, MAX(processed_at) AS last
  FROM orders GROUP BY processed_by ORDER BY first;
SELECT kafka_partition, COUNT(*) AS orders, COUNT(DISTINCT processed_by) AS consumers, MAX(kafka_offset) AS last_offset
  FROM orders GROUP BY kafka_partition ORDER BY kafka_partition;

-- Rows stored per minute.
SELECT date_trunc('minute', processed_at) AS minute, COUNT(*) AS orders
  FROM orders GROUP BY 1 ORDER BY 1 DESC LIMIT 15;

-- Per-customer ordering, in the order rows were stored (processed_at, the database clock at insert; the consumer
-- inserts each batch in offset order per partition): a row stored after a row of the same customer and partition
-- with a higher customer_seq. 0 rows means Kafka's per-partition order held all the way into the table.
SELECT customer_id, kafka_partition, kafka_offset, customer_seq, previous_seq
  FROM (SELECT customer_id, kafka_partition, kafka_offset, customer_seq,
               MAX(customer_seq) OVER (PARTITION BY customer_id, kafka_partition ORDER BY processed_at, kafka_offset
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS previous_seq
          FROM orders) AS t
 WHERE customer_seq < previous_seq;

-- The same across partitions: rows stored after a later-numbered row of their customer on another partition. After
-- a partition-count change this can be more than 0 rows (see docs/troubleshooting.md); lab/src/measure.rs
-- counts both.
SELECT customer_id, kafka_partition, customer_seq, seq_stored_before
  FROM (SELECT customer_id, kafka_partition, customer_seq,
               MAX(customer_seq) OVER (PARTITION BY customer_id ORDER BY processed_at, kafka_offset
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS seq_stored_before,
               MAX(customer_seq) OVER (PARTITION BY customer_id, kafka_partition ORDER BY processed_at, kafka_offset
                                       ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS same_partition_before
          FROM orders) AS t
 WHERE customer_seq < seq_stored_before AND customer_seq > COALESCE(same_partition_before, 0);

-- Customers whose orders are on more than one partition: they moved when the partition count grew.
SELECT customer_id, array_agg(DISTINCT kafka_partition ORDER BY kafka_partition) AS partitions, COUNT(*) AS orders
  FROM orders GROUP BY customer_id HAVING COUNT(DISTINCT kafka_partition) > 1 ORDER BY customer_id;

-- Latency: producer's timestamp to the row's commit, over the last 5 minutes.
SELECT ROUND(EXTRACT(EPOCH FROM percentile_cont(0.5) WITHIN GROUP (ORDER BY processed_at - produced_at)) * 1000) AS p50_ms,
       ROUND(EXTRACT(EPOCH FROM percentile_cont(0.99) WITHIN GROUP (ORDER BY processed_at - produced_at)) * 1000) AS p99_ms
  FROM orders WHERE processed_at > now() - interval '5 minutes';
