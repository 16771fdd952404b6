//! (10) The consumer's write path against the others Postgres offers, the database alone: no broker, no decoding,
//! no second writer. The same orders (the producer's generator, seeded) are written through one connection in
//! batches of the consumer's default size by each path in turn, each run right after a ceiling run of its own
//! (the server upserting the same rows from a table in one statement, as the bench's ceiling does), the order of
//! the paths rotating from round to round. Besides rows per second, the connection's backend CPU per row (its
//! `/proc/<pid>/stat`, Postgres and this bench on the same machine) says where the time goes: in the server, or
//! between the statements.
//!
//! The paths: `unnest`, the consumer's own ([`order_consumer::store::upsert`]: 13 arrays, one statement, its own
//! commit); `copy`, the batch in binary `COPY` into a temporary table and one `INSERT … SELECT … ON CONFLICT` from it
//! ([`copy_upsert`]); `unnest_5_per_commit`, the consumer's statement with five batches to a commit. The consumer
//! keeps its own: no other was faster beyond the spread of the rounds (docs/performance.md, run K); the others stay
//! in this file only, so that another host can measure them again.

use std::time::Instant;

use anyhow::{Context, bail};
use order_consumer::batch::{Entry, Outcome};
use order_consumer::store::{self, COLUMNS, KEEP_NEWEST};
use order_producer::generator::OrderGenerator;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::PgArgumentBuffer;
use sqlx::{Connection, Encode, PgConnection, PgPool, Postgres};

use crate::recorded::Recorder;
use crate::serve::bench::median;
use harness::stack::Stack;

/// Rows per batch: the consumer's default `BATCH_SIZE`.
const BATCH: usize = 1_000;
/// Batches per commit in the `unnest_5_per_commit` path.
const BATCHES_PER_COMMIT: usize = 5;
pub(super) const PATHS: [&str; 3] = ["unnest", "copy", "unnest_5_per_commit"];
/// The figures measured each round and reported as their medians (`paths.<path>.median_<figure>`).
pub(super) const FIGURES: [&str; 6] = [
    "to_ceiling",
    "rows_per_s",
    "wall_us_per_row",
    "postgres_us_per_row",
    "client_us_per_row",
    "ceiling_postgres_us_per_row",
];
const PROCESSED_BY: &str = "bench-write-paths";
/// The ceiling's statement (this section's and the bench's `ceiling_run`): the staged rows upserted again by the
/// server, with the consumer's conflict clause.
pub(super) fn ceiling() -> String {
    format!("INSERT INTO orders SELECT * FROM staging {KEEP_NEWEST}")
}

/// The rows stored, and how many of them hold what the staged row of the same order holds.
const SAME_AS_STAGED: &str =
    "SELECT (SELECT COUNT(*) FROM orders), COUNT(*) FROM orders o JOIN staging s USING (order_id)
  WHERE (o.customer_id, o.customer_name, o.restaurant, o.items, o.total_amount, o.status, o.created_at,
         o.customer_seq, o.version, o.kafka_partition, o.kafka_offset, o.produced_at, o.processed_by)
    IS NOT DISTINCT FROM
        (s.customer_id, s.customer_name, s.restaurant, s.items, s.total_amount, s.status, s.created_at,
         s.customer_seq, s.version, s.kafka_partition, s.kafka_offset, s.produced_at, s.processed_by)";

/// Measures every path `rounds` times on `orders` orders in the migrated database `pool` names; records
/// `paths.<path>.round<r>.{rows_per_s, wall_us_per_row, postgres_us_per_row, client_us_per_row, to_ceiling,
/// ceiling_rows_per_s, ceiling_postgres_us_per_row}`, each path's medians `paths.<path>.median_*`, and
/// `paths.jsonb_parse_us_per_row`.
///
/// # Errors
/// When Postgres refuses a statement, or a path stores other than every order.
pub async fn measure(stack: &Stack, pool: &PgPool, rec: &mut Recorder, orders: u64, rounds: u32) -> anyhow::Result<()> {
    let entries = generated(orders)?;
    let refs: Vec<&Entry> = entries.iter().collect();
    let mut conn = pool.acquire().await?.detach();
    eprintln!("==> (10) write paths: staging {orders} orders for the ceiling");
    write(&mut conn, "unnest", &refs).await?;
    sqlx::query("CREATE TABLE staging AS SELECT * FROM orders").execute(&mut conn).await?;
    sqlx::query(CREATE_INCOMING).execute(&mut conn).await?;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut conn).await?;
    rec.record("paths.orders", orders)?;
    rec.record("paths.batch", BATCH)?;
    rec.record("paths.batches_per_commit", BATCHES_PER_COMMIT)?;
    rec.record("paths.rounds", rounds)?;

    for round in 1..=rounds {
        for i in 0..PATHS.len() {
            let path = PATHS[(i + round as usize) % PATHS.len()];
            eprintln!("==> (10) write paths, round {round} of {rounds}: the ceiling, then {path}");
            let label = format!("paths.{path}.round{round}");
            let ceiling = timed(stack, &mut conn, backend, orders, async |conn| {
                sqlx::query(&ceiling()).execute(&mut *conn).await.context("the ceiling's upsert")?;
                Ok(())
            })
            .await?;
            eprintln!("==> (10) the ceiling: {:.0} orders/s; now {path}", ceiling.rows_per_s);
            let run = timed(stack, &mut conn, backend, orders, async |conn| write(conn, path, &refs).await).await?;
            rec.record(&format!("{label}.ceiling_rows_per_s"), format!("{:.0}", ceiling.rows_per_s))?;
            rec.record(&format!("{label}.ceiling_postgres_us_per_row"), us(ceiling.postgres_us_per_row))?;
            rec.record(&format!("{label}.rows_per_s"), format!("{:.0}", run.rows_per_s))?;
            rec.record(&format!("{label}.wall_us_per_row"), format!("{:.2}", run.wall_us_per_row))?;
            rec.record(&format!("{label}.postgres_us_per_row"), us(run.postgres_us_per_row))?;
            rec.record(&format!("{label}.client_us_per_row"), us(run.client_us_per_row))?;
            rec.record(&format!("{label}.to_ceiling"), format!("{:.4}", run.rows_per_s / ceiling.rows_per_s))?;
        }
    }
    for path in PATHS {
        for figure in FIGURES {
            let values: Vec<f64> =
                (1..=rounds).filter_map(|r| rec.number(&format!("paths.{path}.round{r}.{figure}"))).collect();
            if let Some(m) = median(&values) {
                let m = if figure == "to_ceiling" { format!("{m:.4}") } else { format!("{m:.2}") };
                rec.record(&format!("paths.{path}.median_{figure}"), m)?;
            }
        }
    }
    let parse = jsonb_parse_us_per_row(&mut conn, orders).await?;
    rec.record("paths.jsonb_parse_us_per_row", format!("{parse:.2}"))?;
    conn.close().await?;
    Ok(())
}

/// What parsing the items' JSON into `jsonb` costs the server a row, which every path pays and the ceiling does
/// not (it reads `jsonb` already parsed): the staged items read as text and parsed, less the same read without the
/// parse; the median of 5 tries of each.
async fn jsonb_parse_us_per_row(conn: &mut PgConnection, orders: u64) -> anyhow::Result<f64> {
    const PARSED: &str = "SELECT COUNT(*) FROM staging WHERE items::text::jsonb IS NOT NULL";
    const TEXT: &str = "SELECT COUNT(*) FROM staging WHERE items::text IS NOT NULL";
    let mut differences = Vec::new();
    for _ in 0..5 {
        let mut took = [0.0; 2];
        for (i, statement) in [PARSED, TEXT].into_iter().enumerate() {
            let started = Instant::now();
            let counted: i64 = sqlx::query_scalar(statement).fetch_one(&mut *conn).await?;
            took[i] = started.elapsed().as_secs_f64();
            if u64::try_from(counted) != Ok(orders) {
                bail!("{counted} staged rows of {orders}");
            }
        }
        differences.push((took[0] - took[1]) * 1e6 / orders as f64);
    }
    median(&differences).context("no tries")
}

/// One path's write of every entry, in batches of [`BATCH`].
async fn write(conn: &mut PgConnection, path: &str, entries: &[&Entry]) -> anyhow::Result<()> {
    match path {
        "unnest" => {
            for batch in entries.chunks(BATCH) {
                store::upsert(&mut *conn, batch, PROCESSED_BY).await?;
            }
        }
        "copy" => {
            for batch in entries.chunks(BATCH) {
                copy_upsert(conn, batch, PROCESSED_BY).await?;
            }
        }
        "unnest_5_per_commit" => {
            for batches in entries.chunks(BATCH * BATCHES_PER_COMMIT) {
                let mut tx = conn.begin().await?;
                for batch in batches.chunks(BATCH) {
                    store::upsert(&mut *tx, batch, PROCESSED_BY).await?;
                }
                tx.commit().await?;
            }
        }
        other => bail!("no write path {other}"),
    }
    Ok(())
}

/// The staging table of the `copy` path, one per connection (temporary tables are), emptied at every commit.
const CREATE_INCOMING: &str =
    "CREATE TEMP TABLE IF NOT EXISTS orders_incoming (LIKE orders INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";

/// The `copy` path: `entries` in binary `COPY` into the connection's `orders_incoming` ([`CREATE_INCOMING`], run
/// once before), then upserted from there into `orders` with the consumer's conflict clause, in one transaction.
async fn copy_upsert(conn: &mut PgConnection, entries: &[&Entry], processed_by: &str) -> anyhow::Result<()> {
    let rows = binary_rows(entries, processed_by).map_err(|e| anyhow::anyhow!("encoding the rows: {e}"))?;
    let mut tx = conn.begin().await?;
    let mut copy = tx.copy_in_raw(&format!("COPY orders_incoming ({COLUMNS}) FROM STDIN (FORMAT binary)")).await?;
    copy.send(rows).await?;
    copy.finish().await?;
    let upsert = format!("INSERT INTO orders ({COLUMNS}) SELECT {COLUMNS} FROM orders_incoming {KEEP_NEWEST}");
    sqlx::query(&upsert).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(())
}

/// The rows in `COPY`'s binary format: a header, each row as its field count and each field as its length and its
/// bytes (sqlx's own encoders, the ones its bound parameters use), a trailer.
fn binary_rows(entries: &[&Entry], processed_by: &str) -> Result<Vec<u8>, BoxDynError> {
    let mut buf = PgArgumentBuffer::default();
    buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    buf.extend_from_slice(&[0; 8]); // flags and header extension: none
    for entry in entries {
        let Outcome::Order(o) = &entry.outcome else { continue };
        buf.extend_from_slice(&14_i16.to_be_bytes());
        field(&mut buf, &o.order_id)?;
        field(&mut buf, &o.customer_id.as_str())?;
        field(&mut buf, &o.customer_name.as_str())?;
        field(&mut buf, &o.restaurant.as_str())?;
        // jsonb: its format version (1), then the JSON text.
        let at = buf.len();
        buf.extend_from_slice(&[0, 0, 0, 0, 1]);
        let json: &mut Vec<u8> = &mut buf;
        serde_json::to_writer(json, &o.items)?;
        set_length(&mut buf, at)?;
        field(&mut buf, &o.total_amount)?;
        field(&mut buf, &o.status.as_str())?;
        field(&mut buf, &o.created_at)?;
        field(&mut buf, &i64::try_from(o.customer_seq)?)?;
        field(&mut buf, &i32::try_from(o.version)?)?;
        field(&mut buf, &entry.partition)?;
        field(&mut buf, &entry.offset)?;
        field(&mut buf, &entry.produced_at)?;
        field(&mut buf, &processed_by)?;
    }
    buf.extend_from_slice(&(-1_i16).to_be_bytes());
    Ok(std::mem::take(&mut *buf))
}

fn field<'q, T: Encode<'q, Postgres>>(buf: &mut PgArgumentBuffer, value: &T) -> Result<(), BoxDynError> {
    let at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    match value.encode_by_ref(buf)? {
        IsNull::No => set_length(buf, at),
        IsNull::Yes => {
            buf.truncate(at);
            buf.extend_from_slice(&(-1_i32).to_be_bytes());
            Ok(())
        }
    }
}

/// Writes the length of the field that starts at `at` (after its 4 length bytes) into those bytes.
fn set_length(buf: &mut PgArgumentBuffer, at: usize) -> Result<(), BoxDynError> {
    let length = i32::try_from(buf.len() - at - 4)?;
    buf[at..at + 4].copy_from_slice(&length.to_be_bytes());
    Ok(())
}

struct Timed {
    rows_per_s: f64,
    wall_us_per_row: f64,
    /// The connection's backend's CPU; `None` where its `/proc/<pid>/stat` cannot be read (Postgres on another
    /// machine).
    postgres_us_per_row: Option<f64>,
    /// This process's CPU: building the batches' statements or rows, the driver.
    client_us_per_row: Option<f64>,
}

/// Empties `orders` and checkpoints, then times `run`, which must store every one of `orders` orders as staged.
async fn timed(
    stack: &Stack,
    conn: &mut PgConnection,
    backend: i32,
    orders: u64,
    run: impl AsyncFnOnce(&mut PgConnection) -> anyhow::Result<()>,
) -> anyhow::Result<Timed> {
    sqlx::query("TRUNCATE orders").execute(&mut *conn).await?;
    stack.checkpoint().await;
    let (cpu_before, own_before) = (cpu_ticks(&backend.to_string()), cpu_ticks("self"));
    let started = Instant::now();
    run(&mut *conn).await?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("==> (10) stored in {seconds:.2} s; checking every row against the staged one");
    let spent = |before: Option<u64>, after: Option<u64>| before.zip(after).map(|(b, a)| a.saturating_sub(b));
    let cpu = spent(cpu_before, cpu_ticks(&backend.to_string()));
    let own = spent(own_before, cpu_ticks("self"));
    let (stored, same): (i64, i64) = sqlx::query_as(SAME_AS_STAGED).fetch_one(&mut *conn).await?;
    if u64::try_from(stored) != Ok(orders) || same != stored {
        bail!("{stored} rows stored of {orders} orders, {same} of them as staged");
    }
    let rows = orders as f64;
    let per_row = |ticks: u64| ticks as f64 * 1e6 / USER_HZ / rows;
    Ok(Timed {
        rows_per_s: rows / seconds,
        wall_us_per_row: seconds * 1e6 / rows,
        postgres_us_per_row: cpu.map(per_row),
        client_us_per_row: own.map(per_row),
    })
}

/// The orders the producer would send (1,000 customers, seeded), as the consumer holds them after decoding.
fn generated(orders: u64) -> anyhow::Result<Vec<Entry>> {
    let mut generator = OrderGenerator::new(1_000, Some(7), false);
    let produced_at = Some(chrono::Utc::now());
    (0..orders)
        .map(|i| {
            let (_, order) = generator.next_event();
            Ok(Entry {
                partition: i32::try_from(i % 3)?,
                offset: i64::try_from(i / 3)?,
                produced_at,
                key: None,
                payload: None,
                outcome: Outcome::Order(Box::new(order)),
            })
        })
        .collect()
}

/// The unit of `/proc/<pid>/stat`'s CPU times: Linux reports them in USER_HZ, 100 a second on every architecture.
const USER_HZ: f64 = 100.0;

/// User and system CPU of process `pid` (a number, or `self`) so far, in clock ticks.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, and ends at the last ')'): utime and stime are the
    // 12th and 13th.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

fn us(value: Option<f64>) -> String {
    value.map_or_else(|| "unknown".to_owned(), |v| format!("{v:.2}"))
}
