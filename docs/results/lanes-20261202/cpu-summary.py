"""Derives, from cpu-runs.txt, each run's CPU use: cores busy (all three processes' ticks / wall time) and CPU per
row of Postgres and of the consumer (500,000 rows per run). Usage: python3 cpu-summary.py > cpu-summary.txt"""
import re

ROWS = 500_000
section = ""
for line in open("cpu-runs.txt"):
    if line.startswith("## "):
        section = line[3:].strip()
        print(f"## {section}")
        continue
    m = re.search(r"wall_s=(\d+)ms consumer_ticks=(\d+) postgres_ticks=(\d+) java_ticks=(\d+)", line)
    if not m:
        continue
    wall, consumer, postgres, java = (int(x) for x in m.groups())
    setting = line.split("wall_s=")[0].strip()
    cores = (consumer + postgres + java) / 100 / (wall / 1000)
    print(f"{setting:38} cores_busy={cores:.2f} postgres_us_per_row={postgres * 1e4 / ROWS:.1f} "
          f"consumer_us_per_row={consumer * 1e4 / ROWS:.1f}")

# The ceiling of run F (docs/benchmarks.json, figures: the median of its 3 runs), per row on its one backend.
CEILING = 83_899
print(f"ceiling_run_F_us_per_row={1e6 / CEILING:.1f}")
