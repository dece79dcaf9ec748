#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine, builds, and runs every
# test: unit (cmocka), integration (real processes on 127.0.0.1) and fuzz
# corpus replays, once in a hardened release build, once under
# AddressSanitizer + UndefinedBehaviorSanitizer and once under
# ThreadSanitizer (clang); then builds, checks, installs and removes the
# Debian package (test/package/test_package.sh, as root); then runs each
# libFuzzer target briefly.
# Options: --quick (release build only, no fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

./deploy/install-deps.sh
jobs=$(nproc)

run_suite() { # dir cmake-args...
  local dir=$1
  shift
  cmake -S . -B "$dir" -DSS_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600)
}

echo "== release build (hardened) =="
run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
[ $quick -eq 1 ] && exit 0

echo "== ASan + UBSan build =="
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=ON

echo "== ThreadSanitizer build (clang) =="
unset ASAN_OPTIONS UBSAN_OPTIONS
export TSAN_OPTIONS=second_deadlock_stack=1
run_suite build/tsan -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSS_TSAN=ON
unset TSAN_OPTIONS

echo "== Debian package: build, lintian, install, unit checks, run, remove =="
bash test/package/test_package.sh

echo "== libFuzzer (clang), 20 s per target =="
cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DSS_FUZZ=ON \
  -DBUILD_TESTING=ON >/dev/null
targets=$(cd test/fuzz && ls fuzz_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build build/fuzz -j"$jobs" --target $targets
# The release build's test PKI: needed by some targets, and its samples/
# (real OCSP responses, registry signatures, header blocks) seed them.
./deploy/pki.sh build/release/test-pki >/dev/null
export SS_TEST_PKI=$PWD/build/release/test-pki
for t in $targets; do
  parser=${t#fuzz_}
  work=$(mktemp -d)
  cp test/fuzz/corpus/"$parser"/* "$work"/ 2>/dev/null || true
  for f in "$SS_TEST_PKI/samples/$parser"/*; do
    if [ -f "$f" ]; then
      cp "$f" "$work/pki-${f##*/}"
    fi
  done
  echo "-- $t"
  if ! build/fuzz/test/"$t" -max_total_time=20 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
    cat "$work.log"
    echo "$t: fuzzing found a crash (input kept in $work)"
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$work.log" || true
  rm -rf "$work" "$work.log"
done
echo "all test stages passed"
