#!/usr/bin/env bash
# Fuzzes the Cedar readers (policy parser + evaluator, entities JSON, requests JSON,
# schema parser, JSON) with libFuzzer and AddressSanitizer.
#
#   scripts/fuzz-cedar.sh [SECONDS]        # default 60 seconds
#
# Seeds come from the official corpus in ../shared/cedar. Crashes are written to
# .build-fuzz/crashes/ and the script exits non-zero if libFuzzer finds one.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
out=.build-fuzz
mkdir -p "$out/seeds" "$out/work" "$out/crashes"

swiftc -sanitize=fuzzer,address -parse-as-library -O -g \
  -module-name Cedar $(find Sources/Cedar -name '*.swift') Fuzz/CedarFuzzer.swift \
  -o "$out/cedar-fuzzer"

# Seeds: prefix each file with its selector byte.
if [ -z "$(ls -A "$out/seeds")" ]; then
  shared=../shared/cedar
  i=0
  for f in "$shared"/tests/*/*.cedar; do printf '\x00' | cat - "$f" > "$out/seeds/p$i"; i=$((i+1)); done
  for f in "$shared"/sample-data/*/entities.json; do printf '\x01' | cat - "$f" > "$out/seeds/e$i"; i=$((i+1)); done
  for f in "$shared"/sample-data/*/*.cedarschema; do printf '\x03' | cat - "$f" > "$out/seeds/s$i"; i=$((i+1)); done
  printf '\x02[{"principal":{"type":"User","id":"a"},"action":{"type":"Action","id":"v"},"resource":{"type":"R","id":"r"},"context":{"ip":{"__extn":{"fn":"ip","arg":"10.0.0.1"}}}}]' > "$out/seeds/r0"
fi

# Leak detection is off: LeakSanitizer reports Swift's lazily initialised globals
# (e.g. the schema builder's table of built-in types) as leaked at process exit.
# AddressSanitizer's memory-error checks and libFuzzer's crash and timeout
# detection stay on.
ASAN_OPTIONS=detect_leaks=0 "$out/cedar-fuzzer" "$out/work" "$out/seeds" -max_total_time="$seconds" -max_len=8192 \
  -timeout=10 -detect_leaks=0 -artifact_prefix="$out/crashes/" -print_final_stats=1
