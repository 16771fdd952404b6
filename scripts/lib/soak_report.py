"""Turns what scripts/soak.sh records (key=value lines and memory.csv) into summary.json and summary.md.

Usage: soak_report.py RESULTS.txt MEMORY.csv SUMMARY.json SUMMARY.md
"""
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_report import load, num  # noqa: E402  (the same key=value format as the benchmark)


def mib(kib):
    return kib / 1024 if isinstance(kib, (int, float)) else None


def memory(path):
    """Per process (label): pid, first and last sample time, samples, RSS at start, middle and end, peak."""
    series = {}
    with open(path) as f:
        for row in csv.DictReader(f):
            series.setdefault(row["label"], []).append(
                (float(row["elapsed_s"]), int(row["pid"]), int(row["rss_kib"]), int(row["peak_kib"] or 0))
            )
    out = {}
    for label, points in series.items():
        points.sort()
        first, last = points[0][0], points[-1][0]
        middle = min(points, key=lambda p: abs(p[0] - (first + last) / 2))
        out[label] = {
            "pid": points[-1][1],
            "from_s": first,
            "to_s": last,
            "samples": len(points),
            "rss_start_kib": points[0][2],
            "rss_middle_kib": middle[2],
            "rss_end_kib": points[-1][2],
            "rss_max_sampled_kib": max(p[2] for p in points),
            "peak_kib": max(p[3] for p in points),
        }
    return out


def order(label):
    name, _, n = label.partition("-")
    return (name != "producer", int(n) if n.isdigit() else 0)


def steps(r):
    out = []
    for i in range(0, 100):
        s = r.get(f"step{i}")
        if s is None:
            break
        out.append({"step": i, **s})
    return out


def stall(step):
    """The step's longest stall: the longest stretch in which a partition had an order waiting and stored nothing
    (experiment/src/measure.rs), and the partition."""
    if step.get("longest_stall_s") in (None, ""):
        return "–"
    partition = step.get("stall_partition")
    partition = int(partition) if isinstance(partition, float) else partition  # read back as a number
    return f"{num(step['longest_stall_s'], 2)} s (partition {partition})"


def markdown(r, mem):
    run, m, res, prod = r["run"], r["machine"], r.get("result", {}), r.get("producer", {})
    checks, details = r.get("check", {}), r.get("detail", {})
    empty = res.get("empty_partitions")
    empty = int(empty) if isinstance(empty, float) else empty  # one partition number reads back as a number
    lines = [
        f"# Soak {run['time']}",
        "",
        f"`scripts/soak.sh --orders {int(run['orders'])} --rate {int(run['rate'])}`: topic `{run['topic']}`, group "
        f"`{run['group']}`, database `{run['database']}`. Machine: {int(m['cores'])} cores ({m['cpu']}), "
        f"{num(m['memory_kib'] / 1024)} MiB; Kafka {m['kafka']}, PostgreSQL {m['postgres']}, librdkafka "
        f"{str(m['librdkafka']).split('+')[-1]}. Everything ran on this one machine.",
        "",
        "## Checks",
        "",
        "| check | result | detail |",
        "|---|---|---|",
    ]
    for name, result in checks.items():
        lines.append(f"| {name.replace('_', ' ')} | {'pass' if result == 'pass' else '**FAIL**'} | {details.get(name, '')} |")
    lines += [
        "",
        "## Figures",
        "",
        "| figure | value |",
        "|---|---|",
        f"| orders requested | {num(run['orders'])} at {num(run['rate'])}/s (0 = as fast as possible) |",
        f"| orders acknowledged by Kafka | {num(res.get('acked'))} ({num(prod.get('failed'))} failed) |",
        f"| producer rate (acked / its run time) | {num(prod.get('rate'))}/s over {num(prod.get('elapsed_s'), 1)} s |",
        f"| rows | {num(res.get('rows'))} |",
        f"| distinct order ids | {num(res.get('distinct'))} |",
        f"| duplicate rows | {num(res.get('duplicates'))} |",
        f"| dead letters | {num(res.get('dead_letters'))} |",
        f"| partitions at the end | {num(res.get('partitions'))} |",
        f"| partitions that received no orders | {empty or 'none'} |",
        f"| log-end offsets | {res.get('log_end', '')} |",
        f"| committed offsets | {res.get('committed', '')} |",
        f"| drain after the producer ended | {num(run.get('drain_s'))} s |",
        f"| wall time (topic created to consumers stopped) | {num(run.get('wall_s'), 1)} s |",
        "",
        "## Schedule",
        "",
        "Each step starts when the table holds its share of the orders, then waits for the group to settle: the "
        "expected members, every partition owned by exactly one. The longest stall is the longest stretch, after the "
        "step and before the next, in which a partition had an order waiting and stored nothing "
        "(`experiment/src/measure.rs`, as in the experiment and the rebalance benchmark).",
        "",
        "| step | action | at (s) | rows then | members after | settled in (s) | longest stall (partition) |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in steps(r):
        lines.append(
            f"| {s['step']} | {s.get('action', '')} | {num(s.get('at_s'), 1)} | {num(s.get('rows'))} | "
            f"{num(s.get('members'))} | {num(s.get('settle_s'))} | {stall(s)} |"
        )
    lines += [
        "",
        "## Memory",
        "",
        "RSS sampled once a second from `/proc/PID/status` (`memory.csv`); start, middle and end are the first "
        "sample, the one nearest the middle of the process's life and its last one; peak is the kernel's high-water "
        "mark (VmHWM). A consumer that was killed or scaled down ends early.",
        "",
        "| process | pid | sampled from–to (s) | samples | RSS start | RSS middle | RSS end | peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label in sorted(mem, key=order):
        p = mem[label]
        lines.append(
            f"| {label} | {p['pid']} | {p['from_s']:.0f}–{p['to_s']:.0f} | {p['samples']} | "
            f"{mib(p['rss_start_kib']):.1f} MiB | {mib(p['rss_middle_kib']):.1f} MiB | {mib(p['rss_end_kib']):.1f} MiB | "
            f"{mib(p['peak_kib']):.1f} MiB |"
        )
    failures = int(run.get("failures", 0))
    lines += ["", f"**{'PASSED' if failures == 0 else f'FAILED: {failures} check(s)'}**", ""]
    return "\n".join(lines)


def main():
    results, memory_csv, json_out, md_out = sys.argv[1:5]
    r = load(results)
    mem = memory(memory_csv)
    summary = dict(r)
    summary["steps"] = steps(r)
    summary["memory"] = mem
    summary["passed"] = int(r["run"].get("failures", 0)) == 0
    with open(json_out, "w") as f:
        json.dump(summary, f, indent=2, sort_keys=True)
    with open(md_out, "w") as f:
        f.write(markdown(r, mem))


if __name__ == "__main__":
    main()
