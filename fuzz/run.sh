#!/usr/bin/env bash
# Builds the fuzz targets and runs each for a bounded time. Usage: fuzz/run.sh [SECONDS]
# (default 30 per target; test.sh runs it so the targets cannot rot).
#
# The same build as `cargo fuzz build --sanitizer none --debug-assertions`, without
# cargo-fuzz or a nightly toolchain: libFuzzer (libfuzzer-sys) with SanitizerCoverage
# instrumentation, which stable rustc accepts. For longer runs, or with AddressSanitizer,
# cargo-fuzz works on the same crate (README.md, "Bad input").
#
# A target that panics fails the run; its input is kept in fuzz/artifacts/TARGET/ and
# printed here, to be replayed with `fuzz/target/*/release/TARGET FILE`.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-30}"
targets=(respond load_zone transaction)
triple="$(rustc -vV | sed -n 's/^host: //p')"

# With --target, RUSTFLAGS reach the targets' code but not build scripts and macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares \
--cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo build --release --target "$triple" --bins

corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$corpus/$target" "artifacts/$target"
done
# The zone loader starts from real zone files (two folders may hold the same name).
for dir in ../zones ../tests/zones/cases; do
  for file in "$dir"/*.zone; do
    cp "$file" "$corpus/load_zone/$(basename "$dir")-$(basename "$file")"
  done
done

for target in "${targets[@]}"; do
  echo "fuzzing $target for ${seconds}s"
  # -timeout: an input that takes 10 s is a hang, a failure; the run stops by itself.
  if ! "target/$triple/release/$target" "$corpus/$target" \
      -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="artifacts/$target/" >"$corpus/$target.log" 2>&1; then
    tail -n 40 "$corpus/$target.log"
    for input in "artifacts/$target"/*; do
      [ -f "$input" ] && { echo "failing input $input:"; od -A x -t x1z "$input" | head -n 20; }
    done
    echo "fuzz target $target failed" >&2
    exit 1
  fi
  grep -E '^(Done|stat::number_of_executed_units)' "$corpus/$target.log" || true
done
