#!/usr/bin/env bash
# Runs the whole ctest suite of the release build again and again, to show
# that it never fails now and then: prints one line per run and, at the
# end, "N passed, M failed". Failed runs keep their logs (ctest's, with
# every test's output, and the process logs) under build/release/repeat-failures.
#   usage: test/repeat.sh [RUNS=30] [JOBS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
jobs=${2:-3}
build=build/release
./deploy/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSS_WERROR=ON >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
keep=$build/repeat-failures
rm -rf "$keep"
passed=0 failed=0
for i in $(seq 1 "$runs"); do
  start=$SECONDS
  if (cd "$build" && ctest -j"$jobs" --timeout 600 >"repeat.log" 2>&1); then
    passed=$((passed + 1))
    echo "run $i: passed ($((SECONDS - start)) s)"
  else
    failed=$((failed + 1))
    mkdir -p "$keep/run-$i"
    cp "$build/repeat.log" "$keep/run-$i/"
    # what each test printed (its ok / not ok lines)
    cp "$build/Testing/Temporary/LastTest.log" "$keep/run-$i/" 2>/dev/null || true
    cp -r "$build/test-logs" "$keep/run-$i/" 2>/dev/null || true
    echo "run $i: FAILED ($((SECONDS - start)) s): $(grep -E '^\s+[0-9]+ - ' "$build/repeat.log" | tr -s ' ' | tr '\n' ';')"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
