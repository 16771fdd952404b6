#!/usr/bin/env bash
# Assertions for the script tests. Source it; call `finish` last.
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
failures=0
passed=0

# expect_fail DESCRIPTION EXPECTED_TEXT COMMAND...: the command must exit non-zero and say EXPECTED_TEXT.
expect_fail() {
  local what="$1" text="$2" out
  shift 2
  if out="$("$@" 2>&1)"; then
    echo "FAIL: $what: exited 0"
    failures=$((failures + 1))
  elif [[ "$out" != *"$text"* ]]; then
    echo "FAIL: $what: output lacks '$text': $out"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}

# expect_ok DESCRIPTION EXPECTED_TEXT COMMAND...: the command must exit 0 and say EXPECTED_TEXT.
expect_ok() {
  local what="$1" text="$2" out
  shift 2
  if ! out="$("$@" 2>&1)" || [[ "$out" != *"$text"* ]]; then
    echo "FAIL: $what: $out"
    failures=$((failures + 1))
  else
    passed=$((passed + 1))
  fi
}

finish() {
  echo "$(basename "$0"): $passed passed, $failures failed"
  ((failures == 0))
}
