//! What the metrics cost per record, without Kafka or Postgres: the work `events` adds for each consumed and stored
//! order (a counter for the record, one latency observation for its row), timed with metrics on and with them off
//! (`METRICS_ADDR=off`), plus a batch's own observations every 500 records. Run:
//! `cargo run --release -p order-consumer --example metrics_cost`. Compare with the consumer's CPU time per record
//! in `scripts/lab.sh bench` (docs/observability.md).

use std::hint::black_box;
use std::time::Instant;

use order_consumer::events::{Consumed, Metrics};

const RECORDS: u32 = 5_000_000;
const BATCH: u32 = 500;

/// Nanoseconds per record for the per-record work of `metrics`.
fn per_record(metrics: &Metrics) -> f64 {
    let started = Instant::now();
    for i in 0..RECORDS {
        metrics.emit(Consumed);
        // Recording: what BatchWritten adds for each stored order (its latency) and, once a batch, for the batch.
        if metrics.records_consumed.get() > 0 {
            metrics.produce_to_row_seconds.observe(black_box(f64::from(i % 1_000) / 100_000.0));
            if i % BATCH == 0 {
                metrics.batch_messages.observe(f64::from(BATCH));
                metrics.db_write_seconds.observe(black_box(0.004));
                metrics.batches_written.inc();
            }
        }
    }
    black_box(metrics.records_consumed.get());
    started.elapsed().as_nanos() as f64 / f64::from(RECORDS)
}

fn main() {
    let (on, off) = (Metrics::new(), Metrics::off());
    // Warm up, then the best of five runs of each, alternating.
    per_record(&on);
    per_record(&off);
    let (mut best_on, mut best_off) = (f64::MAX, f64::MAX);
    for _ in 0..5 {
        best_on = best_on.min(per_record(&on));
        best_off = best_off.min(per_record(&off));
    }
    println!("records={RECORDS}");
    println!("metrics_on_ns_per_record={best_on:.1}");
    println!("metrics_off_ns_per_record={best_off:.1}");
    println!("metrics_cost_ns_per_record={:.1}", best_on - best_off);
}
