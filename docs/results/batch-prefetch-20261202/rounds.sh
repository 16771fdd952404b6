#!/usr/bin/env bash
# rounds.sh ROUNDS "name|bin|VAR=V VAR=V" ...: each variant's consumer run right after a ceiling run of its own,
# variants alternating round after round; one line per run with the paired ratio.
set -euo pipefail
rounds="$1"; shift
for round in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    IFS="|" read -r name bin vars <<<"$spec"
    c=$(docs/results/batch-prefetch-20261202/ceiling.sh t12_stage)
    # shellcheck disable=SC2086
    line=$(docs/results/batch-prefetch-20261202/one.sh "$name" "$bin" $vars)
    r=$(sed -E 's/.*rows_per_s=([0-9]+).*/\1/' <<<"$line")
    echo "round=$round ceiling=$c ratio=$(awk -v a="$r" -v b="$c" 'BEGIN { printf "%.3f", a / b }') vars=${vars:--} $line"
  done
done
