"""Turns the key=value lines scripts/bench.sh records into bench.json and, unless --small, docs/benchmarks.md.

Usage: bench_report.py RESULTS.txt BENCH.json [BENCHMARKS.md]
With BENCHMARKS.md, the figures are also written beside it as BENCHMARKS.json (docs/benchmarks.json).
"""
import json
import sys


def load(path):
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


def markdown(r):
    m = r["machine"]
    orders = int(r["producer"]["producer_acked"])
    ceiling = r["ceiling"]["rows_per_s"]
    g = {c: r[f"group{c}"] for c in (1, 2, 3)}
    e = {c: r[f"eff{c}"] for c in (1, 2, 3)}
    lat = r["latency"]
    settings = r.get("settings", {})
    rate = settings.get("latency_rate", 1000)
    delay = settings.get("eff_delay_ms", 5)
    producer_ratio = ratio(r["producer"]["producer_rate"], r["perftest"]["rate"])
    group_ratio = ratio(g[3]["rows_per_s"], ceiling)
    eff3 = ratio(e[3]["busy_rows_per_s"], 3 * e[1]["busy_rows_per_s"])
    # The memory target is about the runs (2) and (5), as the issue defines measure 6: default settings. The knob
    # runs (a 5,000-order batch holds more) report their own peaks in section 8.
    rss = max(r[k]["consumer_rss_kib"] for k in ("group1", "group2", "group3", "latency"))
    prss = max(r["producer"]["producer_rss_kib"], lat["producer_rss_kib"])
    lines = []
    w = lines.append
    w("# Benchmarks\n")
    w(f"One run of `scripts/bench.sh` (the whole file below was written by it, {r['run']['time']}) on the local stack: "
      f"{int(m['cores'])} cores ({m['cpu']}), {int(m['memory_kib']) // 1024} MiB, Kafka {m['kafka']}, PostgreSQL "
      f"{m['postgres']}, librdkafka {str(m['librdkafka']).split('+')[-1]}. Every process ran on this one machine, so the broker, the database and "
      "the clients shared its cores. Absolute numbers vary between machines; the ratios, measured in the same run, "
      "are what to compare. Every figure is also in `docs/benchmarks.json`, written by the same run.\n")
    w("## Against the targets\n")
    w("| measure | value | target | |\n|---|---|---|---|")
    w(f"| consumer group (3 consumers) / Postgres ceiling | {num(group_ratio, 2)} | ≥ 0.5 | {verdict(group_ratio, 0.5)} |")
    w(f"| our producer / kafka-producer-perf-test | {num(producer_ratio, 2)} | ≥ 0.8 | {verdict(producer_ratio, 0.8)} |")
    w(f"| scaling efficiency with 3 consumers (while all work) | {num(eff3, 2)} | ≥ 0.9 | {verdict(eff3, 0.9)} |")
    w(f"| p99 latency at {num(rate)} orders/s | {num(lat['p99_ms'], 1)} ms | ≤ 100 ms | {verdict(lat['p99_ms'], 100, False)} |")
    w(f"| peak RSS, consumer (largest in runs 2 and 5) | {num(rss / 1024, 1)} MiB | ≤ 30 MB | {verdict(rss / 1024, 28.6, False)} |")
    w(f"| peak RSS, producer (largest in runs 4 and 5) | {num(prss / 1024, 1)} MiB | ≤ 30 MB | {verdict(prss / 1024, 28.6, False)} |")
    w("\n(30 MB = 28.6 MiB.)\n")
    w(f"## 1, 2. Postgres ceiling and the consumer group, {orders:,} orders\n")
    w("The ceiling: the same rows, already in a staging table, upserted by the server itself with the consumer's "
      "`INSERT … ON CONFLICT … WHERE` into the emptied table. The group: a topic of 3 partitions pre-filled with the "
      "orders, consumers started on an empty table of their own, timed until every row was stored.\n")
    w("| | orders/s (first to last row) | / ceiling | wall time from start (join included) | peak RSS per consumer |\n|---|---|---|---|---|")
    w(f"| Postgres ceiling | {num(ceiling)} | 1.00 | | |")
    for c in (1, 2, 3):
        w(f"| {c} consumer{'s' if c > 1 else ''} | {num(g[c]['rows_per_s'])} | {num(ratio(g[c]['rows_per_s'], ceiling), 2)} | "
          f"{num(g[c]['wall_s'], 2)} s | {num(g[c]['consumer_rss_kib'] / 1024, 1)} MiB |")
    w(f"\n## 3. Scaling with {num(delay)} ms of simulated work per order\n")
    w(f"`PROCESSING_DELAY_MS={num(delay)}`, `BATCH_SIZE=20`, a pre-filled topic of 3 partitions. \"While all work\" sums each "
      "consumer's own rate; \"first to last row\" is bounded by the consumer with the most orders.\n")
    w("| consumers | orders/s while all work | efficiency | orders/s first to last row | efficiency |\n|---|---|---|---|---|")
    for c in (1, 2, 3):
        w(f"| {c} | {num(e[c]['busy_rows_per_s'])} | {num(ratio(e[c]['busy_rows_per_s'], c * e[1]['busy_rows_per_s']), 2)} | "
          f"{num(e[c]['rows_per_s'])} | {num(ratio(e[c]['rows_per_s'], c * e[1]['rows_per_s']), 2)} |")
    w("\n## 4. Producer\n")
    w(f"{orders:,} records of {int(r['producer']['record_bytes'])} bytes on average (our orders; kafka-producer-perf-test "
      "sent the same JSON, read back from the topic, as its payload file), acks=all, idempotence on, lz4, linger 5 ms, "
      "batch.size 1,000,000, as fast as possible. Our producer sends keyed records (murmur2); the perf test sends "
      "unkeyed ones.\n")
    runs = int(r["producer"].get("runs", 1))
    ours = [r[f"producer{i}"]["producer_rate"] for i in range(1, runs + 1) if f"producer{i}" in r]
    theirs = [r[f"perftest{i}"]["rate"] for i in range(1, runs + 1) if f"perftest{i}" in r]
    w(f"Each ran {runs} time{'s' if runs > 1 else ''}, alternating; the median counts.\n")
    w("| producer | records/s (median) | every run | peak RSS |\n|---|---|---|---|")
    w(f"| order-producer | {num(r['producer']['producer_rate'])} | {', '.join(num(v) for v in ours)} | "
      f"{num(r['producer']['producer_rss_kib'] / 1024, 1)} MiB |")
    w(f"| kafka-producer-perf-test | {num(r['perftest']['rate'])} | {', '.join(num(v) for v in theirs)} | (JVM) |")
    w(f"\n## 5, 6. Latency and memory at a steady rate\n")
    w(f"{int(lat['producer_acked']):,} orders at {num(rate)}/s, 3 consumers on 3 partitions, default settings, after a "
      "`CHECKPOINT` (so the writes of the runs before do not land in this one). Latency = the "
      "row's `processed_at` (the database clock during the insert) minus the record's timestamp set by the producer.\n")
    w("| p50 | p95 | p99 | max | peak RSS producer | peak RSS consumer (largest) |\n|---|---|---|---|---|---|")
    w(f"| {num(lat['p50_ms'], 1)} ms | {num(lat['p95_ms'], 1)} ms | {num(lat['p99_ms'], 1)} ms | {num(lat['max_ms'], 1)} ms | "
      f"{num(lat['producer_rss_kib'] / 1024, 1)} MiB | {num(lat['consumer_rss_kib'] / 1024, 1)} MiB |")
    w("\n## 7. Growth\n")
    w("| orders | wall time (3 consumers) | orders/s | seconds per 100k |\n|---|---|---|---|")
    for k in sorted((k for k in r if k.startswith("grow")), key=lambda k: int(k[4:])):
        n = int(k[4:])
        w(f"| {n:,} | {num(r[k]['wall_s'], 2)} s | {num(r[k]['rows_per_s'])} | {num(r[k]['wall_s'] / n * 100000, 2)} |")
    w("\n## 8. Knobs\n")
    w("Consumer batch size: throughput of 1 consumer on a pre-filled topic; latency at 1,000/s with 3 consumers.\n")
    w("| BATCH_SIZE | orders/s (1 consumer) | peak RSS (1 consumer) | p50 | p99 |\n|---|---|---|---|---|")
    for k in sorted((k for k in r if k.startswith("batch") and not k.startswith("batchlat")), key=lambda k: int(k[5:])):
        b = k[5:]
        l = r.get(f"batchlat{b}", {})
        w(f"| {b} | {num(r[k]['rows_per_s'])} | {num(r[k]['consumer_rss_kib'] / 1024, 1)} MiB | "
          f"{num(l.get('p50_ms'), 1)} ms | {num(l.get('p99_ms'), 1)} ms |")
    w("\nProducer compression: rate and the bytes the topic's log segments hold.\n")
    w("| compression | records/s | bytes on disk | bytes per order |\n|---|---|---|---|")
    for k in (k for k in r if k.startswith("comp")):
        c = r[k]
        w(f"| {k[4:]} | {num(c['producer_rate'])} | {num(c['log_bytes'])} | {num(c['log_bytes'] / c['producer_acked'], 1)} |")
    w("\nProducer linger: rate as fast as possible, and latency at 1,000/s.\n")
    w("| linger.ms | records/s | p50 | p99 |\n|---|---|---|---|")
    for k in sorted((k for k in r if k.startswith("linger") and not k.startswith("lingerlat")), key=lambda k: int(k[6:])):
        l = r.get(f"lingerlat{k[6:]}", {})
        w(f"| {k[6:]} | {num(r[k]['producer_rate'])} | {num(l.get('p50_ms'), 1)} ms | {num(l.get('p99_ms'), 1)} ms |")
    w("\nWhere the time goes, profiled, and why a target is missed where one is: [performance.md](performance.md).")
    w("\nReproduce: `scripts/stack.sh up && scripts/bench.sh` (about 8 minutes on the machine above; nothing else should "
      "load the machine). `scripts/bench.sh --small` checks that the script works (CI runs it); its figures mean nothing.")
    return "\n".join(lines) + "\n"


def main():
    results = load(sys.argv[1])
    with open(sys.argv[2], "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {sys.argv[2]}")
    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            f.write(markdown(results))
        beside = sys.argv[3].rsplit(".", 1)[0] + ".json"
        with open(beside, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {sys.argv[3]} and {beside}")
    else:
        markdown(results)  # the small run still exercises the report code


if __name__ == "__main__":
    main()
