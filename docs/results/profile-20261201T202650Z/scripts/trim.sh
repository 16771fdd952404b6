#!/usr/bin/env bash
# trim.sh WORK OUT: the top ~40 lines of each report, trailing IPC columns and blanks removed.
set -euo pipefail
work=$1 out=$2
top() {
  awk '/^#/ && !/^#[[:space:]]*$/ && !/To display the perf.data header/ && !/Tip:/ { print; next }
       /^ +[0-9.]+%/ && n < 40 { print; n++ }' "$1" |
    sed -E 's/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//'
}
if [[ -f $work/cons-symbols.txt ]]; then top "$work/cons-symbols.txt" >"$out/consumer-symbols.txt"; fi
if [[ -f $work/prod-threads.txt ]]; then top "$work/prod-threads.txt" >"$out/producer-threads.txt"; fi
if [[ -f $work/prod-main-symbols.txt ]]; then top "$work/prod-main-symbols.txt" >"$out/producer-main-symbols.txt"; fi
