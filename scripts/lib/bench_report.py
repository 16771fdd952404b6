"""Turns the key=value lines scripts/bench.sh records into bench.json and, unless --small, docs/benchmarks.md.

Usage: bench_report.py RESULTS.txt|BENCH.json BENCH.json [BENCHMARKS.md]
With BENCHMARKS.md, the figures are also written beside it as BENCHMARKS.json (docs/benchmarks.json).

Every figure the report prints is in the JSON: the measured ones as recorded, and the ones the report derives from
them (ratios, orders per wall second, bytes per order, the targets) under "figures", so that the docs check
(experiment/tests/docs_figures.rs) finds each one. Given a bench.json instead of results.txt, it rewrites a kept
run's report with this code: bench_report.py docs/benchmarks.json docs/benchmarks.json docs/benchmarks.md
"""
import json
import os
import statistics
import sys


def load(path):
    if path.endswith(".json"):
        with open(path) as f:
            nested = json.load(f)
        nested.pop("figures", None)  # derived again below
        return nested
    flat = {}
    for line in open(path):
        key, _, value = line.rstrip("\n").partition("=")
        try:
            flat[key] = float(value) if "." in value or value.lstrip("-").isdigit() else value
        except ValueError:
            flat[key] = value
    nested = {}
    for key, value in flat.items():
        group, _, name = key.partition(".")
        nested.setdefault(group, {})[name] = value
    return nested


def num(v, digits=0):
    if isinstance(v, (int, float)):
        return f"{v:,.{digits}f}"
    return "–"


def ratio(a, b):
    return a / b if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else None


def verdict(value, target, higher_is_better=True):
    if value is None:
        return "–"
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "**missed**"


TARGETS = {
    "one_over_ceiling": 0.6,
    "group_over_ceiling": 0.6,
    "producer_over_perftest": 0.8,
    "efficiency": 0.9,
    "p50_ms": 10,
    "p99_ms": 25,
    "p99_every_run_ms": 100,
    "rss_mb": 30,
    "rss_mib": round(30e6 / 2**20, 1),
}


def keyed(r, prefix, skip=None):
    """The keys PREFIX<number> of the results (batch100, linger5 …), by their number."""
    keys = [k for k in r if k.startswith(prefix) and k[len(prefix):].isdigit() and not (skip and k.startswith(skip))]
    return sorted(keys, key=lambda k: int(k[len(prefix):]))


def latency_runs(r):
    """The repeated latency runs at the steady rate: latency, latency2, latency3 …"""
    return [k for k in ["latency"] + keyed(r, "latency") if k in r]


def efficiency_sets(r):
    """The sets of efficiency runs, each [1, 2, 3 consumers]: eff1..3, then eff1run2..eff3run2 … (older runs: one)."""
    sets = [["eff1", "eff2", "eff3"]]
    for i in range(2, int(r.get("eff", {}).get("runs", 1)) + 1):
        sets.append([f"eff{c}run{i}" for c in (1, 2, 3)])
    return sets


def exact(x):
    return round(x, 6) if isinstance(x, float) else x


def derive(r):
    """The figures the report computes from the measured ones, as it prints them (before rounding)."""
    orders = int(r["producer"]["producer_acked"])
    ceiling = r["ceiling"]["rows_per_s"]
    f = {"targets": TARGETS, "ceiling": {"over_ceiling": 1.0}}

    def timed(run, n):
        stretch = ratio(n, run["rows_per_s"])
        wall = run["wall_s"] if isinstance(run["wall_s"], (int, float)) else None
        return {
            # A run paired with a ceiling run right before it holds its ratio to that one (runs kept before pairing
            # have none, and the runs that were not paired hold theirs to the median ceiling).
            "over_ceiling": exact(run.get("to_ceiling", ratio(run["rows_per_s"], ceiling))),
            "busy_over_ceiling": exact(ratio(run["busy_rows_per_s"], ceiling)),
            "orders_per_wall_s": exact(ratio(n, run["wall_s"])),
            # Wall time minus the first-to-last stretch: about when the first row was stored (the wall clock stops
            # at the first half-second check that finds every row stored).
            "first_row_after_s": exact(wall - stretch) if wall is not None and stretch is not None else None,
        }

    for c in (1, 2, 3):
        f[f"group{c}"] = timed(r[f"group{c}"], orders)
    for i, keys in enumerate(efficiency_sets(r), 1):
        for c, k in zip((1, 2, 3), keys):
            e, e1 = r[k], r[keys[0]]
            f[k] = {
                "efficiency_while_all_work": exact(ratio(e["busy_rows_per_s"], c * e1["busy_rows_per_s"])),
                "efficiency_first_to_last": exact(ratio(e["rows_per_s"], c * e1["rows_per_s"])),
            }
    if "wide3" in r:
        f["wide3"] = timed(r["wide3"], int(r["wide"]["producer_acked"]))
    # The figures held against the targets: medians of repeated runs where the run has them (older runs: one each).
    one = r.get("one", {}).get("median_rows_per_s", r["group1"]["rows_per_s"])
    sets = efficiency_sets(r)
    f["targets_measured"] = {
        "one_rows_per_s": one,
        # Paired runs: the median of each run's ratio to the ceiling run right before it; older runs: the ratio of
        # the two medians.
        "one_over_ceiling": exact(r.get("one", {}).get("median_to_ceiling", ratio(one, ceiling))),
        "paired": "median_to_ceiling" in r.get("one", {}),
        "eff_runs": len(sets),
        **{f"eff{c}": exact(statistics.median(f[keys[c - 1]]["efficiency_while_all_work"] for keys in sets))
           for c in (2, 3)},
        "one_runs": int(r.get("one", {}).get("runs", 1)),
        "ceiling_runs": int(r["ceiling"].get("runs", 1)),
    }
    if "wide3" in r:
        wide = r["wide3"].get("median_rows_per_s", r["wide3"]["rows_per_s"])
        wide_ratio = r["wide3"].get("median_to_ceiling", ratio(wide, ceiling))
        f["targets_measured"].update({"wide_rows_per_s": wide, "wide_over_ceiling": exact(wide_ratio),
                                      "wide_runs": int(r["wide3"].get("runs", 1))})
    runs = latency_runs(r)
    if runs:
        p50s = sorted(r[k]["p50_ms"] for k in runs)
        p99s = sorted(r[k]["p99_ms"] for k in runs)
        f["latency_runs"] = {
            "runs": len(runs),
            "median_p50_ms": exact(statistics.median(p50s)),
            "median_p99_ms": exact(statistics.median(p99s)),
            "worst_p99_ms": p99s[-1],
            "runs_over_100_ms": sum(1 for v in p99s if v > 100),
        }
    # 1 consumer with OFFSET_STORE=postgres, beside group1 (runs kept before it was measured have no such key).
    if "pgoffsets1" in r:
        f["pgoffsets1"] = timed(r["pgoffsets1"], orders)
        f["pgoffsets1"]["over_group1"] = exact(ratio(r["pgoffsets1"]["rows_per_s"], r["group1"]["rows_per_s"]))
    f["producer"] = {"over_perftest": exact(ratio(r["producer"]["producer_rate"], r["perftest"]["rate"]))}
    for k in keyed(r, "grow"):
        f[k] = timed(r[k], int(k[4:]))
    for k in (k for k in r if k.startswith("comp")):
        f[k] = {"bytes_per_order": exact(ratio(r[k]["log_bytes"], r[k]["producer_acked"]))}
    f["settings"] = {
        "batch_sizes": [int(k[5:]) for k in keyed(r, "batch", "batchlat")],
        "linger_ms": [int(k[6:]) for k in keyed(r, "linger", "lingerlat")],
    }
    return f


def markdown(r, figures_file="benchmarks.json"):
    m = r["machine"]
    f = derive(r)
    t = f["targets"]
    orders = int(r["producer"]["producer_acked"])
    ceiling = r["ceiling"]["rows_per_s"]
    g = {c: r[f"group{c}"] for c in (1, 2, 3)}
    e = {c: r[f"eff{c}"] for c in (1, 2, 3)}
    lat = r["latency"]
    settings = r.get("settings", {})
    rate = settings.get("latency_rate", 1000)
    delay = settings.get("eff_delay_ms", 5)
    tm = f["targets_measured"]
    one_ratio = tm["one_over_ceiling"]
    wide_ratio = tm.get("wide_over_ceiling")
    producer_ratio = f["producer"]["over_perftest"]
    eff2, eff3 = tm["eff2"], tm["eff3"]
    eff_of = f", median of {tm['eff_runs']} sets" if tm["eff_runs"] > 1 else ""
    if tm["paired"]:
        pairs = lambda n: f"median of {n} pairs" if n > 1 else "1 pair"
        one_of = f"each run / the ceiling run right before it, {pairs(tm['one_runs'])}"
        wide_of = f"each run / the ceiling run right before it, {pairs(tm.get('wide_runs', 1))}"
    else:
        one_of = f"median of {tm['one_runs']} runs / median of {tm['ceiling_runs']} ceiling runs"
        wide_of = f"median of {tm.get('wide_runs', 1)} runs / median of {tm['ceiling_runs']} ceiling runs"
    lr = f.get("latency_runs", {})
    high = r.get("highrate")
    wide_customers = int(settings.get("wide_customers", 1000))
    # The memory target is about the runs (2) and (5), as the issue defines measure 6: default settings. The knob
    # runs (a 5,000-order batch holds more) report their own peaks in section 8.
    rss = max(r[k]["consumer_rss_kib"] for k in ("group1", "group2", "group3", "latency"))
    prss = max(r["producer"]["producer_rss_kib"], lat["producer_rss_kib"])
    scope = f"\n<!-- figures: {figures_file} -->\n"
    lines = []
    w = lines.append
    w("# Benchmarks")
    w(scope)
    w(f"One run of `scripts/bench.sh` (the whole file below was written by it, {r['run']['time']}) on the local stack: "
      f"{int(m['cores'])} cores ({m['cpu']}), {round(m['memory_kib'] / 1024)} MiB, Kafka {m['kafka']}, PostgreSQL "
      f"{m['postgres']}, librdkafka {str(m['librdkafka']).split('+')[-1]}. Every process ran on this one machine, so the broker, the database and "
      "the clients shared its cores. Absolute numbers vary between machines; the ratios, measured in the same run, "
      "are what to compare. Every figure is also in `docs/benchmarks.json`, written by the same run: the measured "
      "ones as recorded, the ones this report derives from them (ratios, orders per wall second, bytes per order, "
      "the targets) under `figures`.\n")
    w("## Against the targets")
    w(scope)
    w("| measure | value | target | |\n|---|---|---|---|")
    w(f"| 1 consumer (first to last row) / Postgres ceiling ({one_of}) | {num(one_ratio, 2)} | ≥ {t['one_over_ceiling']} | {verdict(one_ratio, t['one_over_ceiling'])} |")
    w(f"| 3 consumers, {wide_customers:,} customers (first to last row) / Postgres ceiling ({wide_of}) | {num(wide_ratio, 2)} | ≥ {t['group_over_ceiling']} | {verdict(wide_ratio, t['group_over_ceiling'])} |")
    w(f"| our producer / kafka-producer-perf-test | {num(producer_ratio, 2)} | ≥ {t['producer_over_perftest']} | {verdict(producer_ratio, t['producer_over_perftest'])} |")
    w(f"| scaling efficiency with 2 consumers (while all work{eff_of}) | {num(eff2, 2)} | ≥ {t['efficiency']} | {verdict(eff2, t['efficiency'])} |")
    w(f"| scaling efficiency with 3 consumers (while all work{eff_of}) | {num(eff3, 2)} | ≥ {t['efficiency']} | {verdict(eff3, t['efficiency'])} |")
    if lr:
        w(f"| p50 latency at {num(rate)} orders/s (median of {lr['runs']} runs) | {num(lr['median_p50_ms'], 1)} ms | ≤ {t['p50_ms']} ms | {verdict(lr['median_p50_ms'], t['p50_ms'], False)} |")
        w(f"| p99 latency at {num(rate)} orders/s (median of {lr['runs']} runs) | {num(lr['median_p99_ms'], 1)} ms | ≤ {t['p99_ms']} ms | {verdict(lr['median_p99_ms'], t['p99_ms'], False)} |")
        w(f"| p99 latency at {num(rate)} orders/s, worst of {lr['runs']} runs in a row | {num(lr['worst_p99_ms'], 1)} ms | ≤ {t['p99_every_run_ms']} ms | {verdict(lr['worst_p99_ms'], t['p99_every_run_ms'], False)} |")
    w(f"| peak RSS, consumer (largest in runs 2 and 5) | {num(rss / 1024, 1)} MiB | ≤ {t['rss_mb']} MB | {verdict(rss / 1024, t['rss_mib'], False)} |")
    w(f"| peak RSS, producer (largest in runs 4 and 5) | {num(prss / 1024, 1)} MiB | ≤ {t['rss_mb']} MB | {verdict(prss / 1024, t['rss_mib'], False)} |")
    w(f"\n({t['rss_mb']} MB = {t['rss_mib']} MiB.)\n")
    w("## 1, 2. Postgres ceiling and the consumer group")
    w(scope)
    staged = ("stored once by 1 consumer at the start and copied to a staging table, " if tm["paired"]
              else "already in a staging table, ")
    w(f"{orders:,} orders. The ceiling: the same rows, {staged}upserted by the server itself with "
      "the consumer's `INSERT … ON CONFLICT … WHERE` into the emptied table. The group: a topic of 3 partitions "
      "pre-filled with the orders by the producer's first run (section 4), read by 1, then 2, then 3 consumers, each "
      "time as a new consumer group storing into an empty database of its own, until every row was stored.\n")
    w("The group's speed, three ways, from the same rows:\n")
    w("- **first to last row**: rows ÷ (the last row's `processed_at` − the first row's). It leaves out what comes "
      "before the first row is stored (start-up, migrations, joining the group) and keeps whatever pauses come after "
      "it, such as a rebalance while later consumers join. The targets use this one.")
    w("- **sum of own rates**: for each consumer, its rows ÷ its own first-to-last stretch, summed: the group's "
      "speed while all its members store.")
    w("- **orders / wall time**: the wall time runs from starting the consumers to the check, made every half "
      "second, that found the group's offsets committed to the end of every partition and every row stored, so it "
      "includes start-up and the join.\n")
    w(f"Orders are keyed by customer: with the producer's default pool of 100 customers the three partitions are "
      f"uneven, and a group is done only when the owner of the largest partition is. The last row repeats the 3 "
      f"consumers on a topic of the same number of orders from {wide_customers:,} customers, whose partitions are "
      "even; the largest partition's share of the rows is in its own column.\n")
    w("| | orders/s, first to last row | / ceiling | orders/s, sum of own rates | wall time from start | "
      "orders / wall time | peak RSS per consumer | largest partition's share |\n|---|---|---|---|---|---|---|---|")
    w(f"| Postgres ceiling (median of {tm['ceiling_runs']}) | {num(ceiling)} | {num(f['ceiling']['over_ceiling'], 2)} | | | | | |")
    rows = [(f"{c} consumer{'s' if c > 1 else ''}", f"group{c}") for c in (1, 2, 3)]
    if "pgoffsets1" in r:
        rows.insert(1, ("1 consumer, `OFFSET_STORE=postgres`", "pgoffsets1"))
    if "wide3" in r:
        rows.append((f"3 consumers, {wide_customers:,} customers", "wide3"))
    for name, k in rows:
        run = r[k]
        w(f"| {name} | {num(run['rows_per_s'])} | {num(f[k]['over_ceiling'], 2)} | "
          f"{num(run['busy_rows_per_s'])} | {num(run['wall_s'], 2)} s | {num(f[k]['orders_per_wall_s'])} | "
          f"{num(run['consumer_rss_kib'] / 1024, 1)} MiB | {num(run.get('largest_partition_share'), 3)} |")
    each = lambda keys, field="rows_per_s", d=0: ", ".join(num(r[k][field], d) for k in keys if k in r)
    ones = ["group1"] + [f"metricson{i}" for i in range(1, tm["one_runs"])]
    wides = ["wide3"] + [f"widerun{i}" for i in range(2, tm.get("wide_runs", 1) + 1)]
    if tm["paired"]:
        w(f"\nOne run of this machine's Postgres or of the group differs from the next by a quarter or more, and the "
          "machine's speed drifts within minutes, so every run held against a target follows a ceiling run of its "
          "own (a `CHECKPOINT` before each of the two), and the figure is the median of those ratios; every run is "
          f"kept in `benchmarks.json`. 1 consumer, its {tm['one_runs']} runs with default settings on the same topic "
          f"(the one in the table and the runs with metrics on of the metrics' cost measurement): "
          f"{each(ones)} orders/s against ceilings of {each(ones, 'ceiling_rows_per_s')}, ratios "
          f"{each(ones, 'to_ceiling', 2)}. 3 consumers on the topic of {wide_customers:,} customers, "
          f"{tm.get('wide_runs', 1)} run{'s' if tm.get('wide_runs', 1) > 1 else ''}: {each(wides)} against {each(wides, 'ceiling_rows_per_s')}, ratios "
          f"{each(wides, 'to_ceiling', 2)}. The ceiling's row is the median of all {tm['ceiling_runs']} ceiling runs "
          "(the metrics-off runs had theirs too); the table shows each group's first run, and 2 and 3 consumers on "
          "the default topic, which were not paired, against that median.")
    elif tm["ceiling_runs"] > 1:
        w(f"\nOne run of this machine's Postgres or of the group differs from the next by a quarter or more, so the "
          "figures held against the targets are medians of repeated runs, every one kept in `benchmarks.json`: the "
          f"ceiling {tm['ceiling_runs']} times on the same staged rows ({each(keyed(r, 'ceiling'))} orders/s), "
          f"1 consumer's {tm['one_runs']} runs with default settings on the same topic, the one in the table and the "
          f"runs with metrics on of the metrics' cost measurement ({each(ones)}; median "
          f"{num(tm['one_rows_per_s'])}), 3 consumers "
          f"on the topic of {wide_customers:,} customers {tm.get('wide_runs', 1)} times ({each(wides)}; median "
          f"{num(tm.get('wide_rows_per_s'))}). The table shows the ceiling's median and each group's first run.")
    if "pgoffsets1" in r:
        w(f"\nWith `OFFSET_STORE=postgres` (run right after the default run of 1 consumer, in a group and database of its "
          "own) each batch's transaction also stores its partitions' next offsets, a second statement: first to last "
          f"row it stored {num(f['pgoffsets1']['over_group1'], 2)} times the orders per second of the default "
          "(`OFFSET_STORE=kafka`) run of 1 consumer. One run of each; what each store guarantees: "
          "[reliability.md](reliability.md#where-offsets-are-kept-offset_storekafka-or-postgres).")
    w(f"\n## 3. Scaling with {num(delay)} ms of simulated work per order")
    w(scope)
    w(f"`PROCESSING_DELAY_MS={num(delay)}`, `BATCH_SIZE=20`, a pre-filled topic of 3 partitions with orders of "
      f"{wide_customers:,} customers (so the partitions are even and the figure is about consumers, not key skew). "
      "\"While all work\" sums each consumer's own rate; \"first to last row\" is bounded by the consumer with the "
      "most orders.\n")
    sets = efficiency_sets(r)
    if len(sets) > 1:
        w(f"The three runs were made {len(sets)} times in a row; the first set is in the table, each set's efficiency "
          "with 2 and 3 consumers is its own runs' (while all work: "
          + "; ".join(f"{num(f[k[1]]['efficiency_while_all_work'], 2)} and {num(f[k[2]]['efficiency_while_all_work'], 2)}"
                      for k in sets)
          + f"), and the targets hold the medians, {num(eff2, 2)} and {num(eff3, 2)}.\n")
    w("| consumers | orders/s while all work | efficiency | orders/s first to last row | efficiency |\n|---|---|---|---|---|")
    for c in (1, 2, 3):
        w(f"| {c} | {num(e[c]['busy_rows_per_s'])} | {num(f[f'eff{c}']['efficiency_while_all_work'], 2)} | "
          f"{num(e[c]['rows_per_s'])} | {num(f[f'eff{c}']['efficiency_first_to_last'], 2)} |")
    w("\n## 4. Producer")
    w(scope)
    w(f"{orders:,} records of {int(r['producer']['record_bytes'])} bytes on average (our orders; kafka-producer-perf-test "
      "sent the same JSON, read back from the topic, as its payload file), `acks=all`, idempotence on, "
      "`compression.type=lz4`, `linger.ms=5`, `batch.size=1000000`, as fast as possible. Our producer sends keyed "
      "records (murmur2); the perf test sends unkeyed ones.\n")
    runs = int(r["producer"].get("runs", 1))
    ours = [r[f"producer{i}"]["producer_rate"] for i in range(1, runs + 1) if f"producer{i}" in r]
    theirs = [r[f"perftest{i}"]["rate"] for i in range(1, runs + 1) if f"perftest{i}" in r]
    w(f"Each ran {runs} time{'s' if runs > 1 else ''}, alternating; the median counts.\n")
    w("| producer | records/s (median) | every run | peak RSS |\n|---|---|---|---|")
    w(f"| order-producer | {num(r['producer']['producer_rate'])} | {', '.join(num(v) for v in ours)} | "
      f"{num(r['producer']['producer_rss_kib'] / 1024, 1)} MiB |")
    w(f"| kafka-producer-perf-test | {num(r['perftest']['rate'])} | {', '.join(num(v) for v in theirs)} | (JVM) |")
    w("\n## 5, 6. Latency and memory at a steady rate")
    w(scope)
    w(f"{int(lat['producer_acked']):,} orders at {num(rate)}/s, 3 consumers on 3 partitions, default settings, after a "
      "`CHECKPOINT` (so the writes of the runs before do not land in this one). Latency = the "
      "row's `processed_at` (the database clock during the insert) minus the record's timestamp set by the producer.\n")
    runs = latency_runs(r)
    w(f"The run was made {len(runs)} times in a row, each on a topic and a database of its own.\n")
    w("| run | p50 | p95 | p99 | max | peak RSS producer | peak RSS consumer (largest) |\n|---|---|---|---|---|---|---|")
    for i, k in enumerate(runs, 1):
        x = r[k]
        w(f"| {i} | {num(x['p50_ms'], 1)} ms | {num(x['p95_ms'], 1)} ms | {num(x['p99_ms'], 1)} ms | {num(x['max_ms'], 1)} ms | "
          f"{num(x['producer_rss_kib'] / 1024, 1)} MiB | {num(x['consumer_rss_kib'] / 1024, 1)} MiB |")
    if high:
        w(f"\nAt {num(settings.get('high_rate', 10000))} orders/s, {int(high['producer_acked']):,} orders, the same way, once:\n")
        w("| p50 | p95 | p99 | max | peak RSS consumer (largest) |\n|---|---|---|---|---|")
        w(f"| {num(high['p50_ms'], 1)} ms | {num(high['p95_ms'], 1)} ms | {num(high['p99_ms'], 1)} ms | "
          f"{num(high['max_ms'], 1)} ms | {num(high['consumer_rss_kib'] / 1024, 1)} MiB |")
    w("\n## 7. Growth")
    w(scope)
    w("3 consumers; each N on a topic of its own, filled by the producer just before, stored into an empty database "
      "of its own; timed the three ways of section 2.\n")
    w("| orders | wall time from start | orders / wall time | orders/s, first to last row | orders/s, sum of own rates |\n"
      "|---|---|---|---|---|")
    for k in keyed(r, "grow"):
        n = int(k[4:])
        w(f"| {n:,} | {num(r[k]['wall_s'], 2)} s | {num(f[k]['orders_per_wall_s'])} | {num(r[k]['rows_per_s'])} | "
          f"{num(r[k]['busy_rows_per_s'])} |")
    same = f"grow{orders}"
    if same in r:
        a, b, fa, fb = g[3], r[same], f["group3"], f[same]
        w(f"\nThe {orders:,} row repeats section 2's run of 3 consumers at another moment of the bench, on its own topic "
          f"and database. Side by side, section 2 first: first to last row {num(a['rows_per_s'])} and "
          f"{num(b['rows_per_s'])} orders/s, sum of own rates {num(a['busy_rows_per_s'])} and "
          f"{num(b['busy_rows_per_s'])}, orders / wall time {num(fa['orders_per_wall_s'])} and "
          f"{num(fb['orders_per_wall_s'])}. First to last row starts at the first row any consumer stores, so it moves "
          "with how much of the group's forming comes after that row: wall time minus the first-to-last stretch, "
          f"about when the first row was stored (to within the half-second check), was {num(fa['first_row_after_s'], 1)} s "
          f"in section 2 and {num(fb['first_row_after_s'], 1)} s here. When the three ways disagree, the sum of own rates "
          "is the group's speed while all its members store, and the other two say how much of the join and of rebalances each window holds; "
          "each consumer's log (`results/bench-<time>/work/`) shows when it joined and what it was assigned.")
    w("\n## 8. Knobs")
    w(scope)
    knob = int(r["knob"]["producer_acked"]) if "knob" in r else orders
    lat_n = next((int(r[k]["producer_acked"]) for k in keyed(r, "batchlat") + keyed(r, "lingerlat")), 0)
    w(f"Consumer batch size: throughput of 1 consumer on a pre-filled topic of {knob:,} orders (first to last row); "
      f"latency with 3 consumers, {lat_n:,} orders at {num(rate)}/s; one run of each per size.\n")
    w("| BATCH_SIZE | orders/s (1 consumer) | peak RSS (1 consumer) | p50 | p95 | p99 |\n|---|---|---|---|---|---|")
    for k in keyed(r, "batch", "batchlat"):
        b = k[5:]
        l = r.get(f"batchlat{b}", {})
        w(f"| {b} | {num(r[k]['rows_per_s'])} | {num(r[k]['consumer_rss_kib'] / 1024, 1)} MiB | "
          f"{num(l.get('p50_ms'), 1)} ms | {num(l.get('p95_ms'), 1)} ms | {num(l.get('p99_ms'), 1)} ms |")
    w(f"\nProducer compression: rate ({knob:,} orders, as fast as possible) and the bytes the topic's log segments hold.\n")
    w("| compression | records/s | bytes on disk | bytes per order |\n|---|---|---|---|")
    for k in (k for k in r if k.startswith("comp")):
        c = r[k]
        w(f"| {k[4:]} | {num(c['producer_rate'])} | {num(c['log_bytes'])} | {num(f[k]['bytes_per_order'], 1)} |")
    w(f"\nProducer linger (`linger.ms`): the producer's rate, {knob:,} orders as fast as possible, and latency with 3 "
      f"consumers, {lat_n:,} orders at {num(rate)}/s; one run of each per value.\n")
    w("| linger.ms | records/s | p50 | p95 | p99 |\n|---|---|---|---|---|")
    for k in keyed(r, "linger", "lingerlat"):
        l = r.get(f"lingerlat{k[6:]}", {})
        w(f"| {k[6:]} | {num(r[k]['producer_rate'])} | {num(l.get('p50_ms'), 1)} ms | {num(l.get('p95_ms'), 1)} ms | "
          f"{num(l.get('p99_ms'), 1)} ms |")
    w("\nWhat the linger figures can and cannot say. `linger.ms` is how long the producer holds a record for its batch "
      "to fill; at this rate a partition gets a record every few milliseconds, so a linger adds up to its own length "
      "to a record's latency: the p50 column measures that cost. The records/s column is one run per value, and single "
      "producer runs on this machine differ by up to a third from one to the next "
      "([performance.md](performance.md#producer-against-kafka-producer-perf-test)), so it does not rank the "
      "lingers. The default stays at `linger.ms=5`, librdkafka's own default (and the Java client's since Kafka "
      "4.0): at a low rate it costs a few milliseconds of p50; what it buys is batching under load, which one "
      "as-fast-as-possible run per value cannot measure.")
    w("\nWhere the time goes, profiled, and why a target is missed where one is: [performance.md](performance.md).")
    w("\nReproduce: `scripts/stack.sh up && scripts/bench.sh` (nothing else should load the machine while it runs). "
      "`scripts/bench.sh --small` checks that the script works (CI runs it); its figures mean nothing.")
    return "\n".join(lines) + "\n"


def main():
    results = load(sys.argv[1])
    results["figures"] = derive(results)
    with open(sys.argv[2], "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {sys.argv[2]}")
    if len(sys.argv) > 3:
        beside = sys.argv[3].rsplit(".", 1)[0] + ".json"
        with open(sys.argv[3], "w") as f:
            f.write(markdown(results, os.path.basename(beside)))
        with open(beside, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {sys.argv[3]} and {beside}")
    else:
        markdown(results)  # the small run still exercises the report code


if __name__ == "__main__":
    main()
