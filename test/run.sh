#!/usr/bin/env bash
# Sets everything up on a fresh Debian 12 machine, builds, and runs every
# test: unit (cmocka), integration (real processes on 127.0.0.1) and fuzz
# corpus replays, once in a hardened release build, once under
# AddressSanitizer + UndefinedBehaviorSanitizer and once under
# ThreadSanitizer (clang; all but the offline tools' tests, which are
# single-threaded); then builds, checks, installs and removes the
# Debian package (test/package/test_package.sh, as root); then runs each
# libFuzzer target briefly.
# Options: --quick (release build only, no fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

./deploy/install-deps.sh
jobs=$(nproc)

# elapsed: the time the run has taken so far; stage TITLE: a stage's heading with it (where a
# slow run's time goes)
elapsed() { echo "$((SECONDS / 60))m$((SECONDS % 60))s"; }
stage() { echo "== $* == (at $(elapsed))"; }

run_suite() { # dir cmake-args... (ctest arguments beyond the defaults in $CTEST_SELECT)
  local dir=$1
  shift
  cmake -S . -B "$dir" -DSS_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  # shellcheck disable=SC2086
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 600 ${CTEST_SELECT:-})
}

stage "release build (hardened)"
run_suite build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo
[ $quick -eq 1 ] && exit 0

stage "ASan + UBSan build"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# -O1, as the sanitizers' authors advise: assertions on (Debug), the instrumented code without
# the cost of -O0, which made this the slowest stage
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DSS_SANITIZE=ON

stage "ThreadSanitizer build (clang)"
unset ASAN_OPTIONS UBSAN_OPTIONS
export TSAN_OPTIONS=second_deadlock_stack=1
# the daemon's threads under load, kills and reloads; not the offline tools (label "tools")
CTEST_SELECT="-LE tools" run_suite build/tsan -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSS_TSAN=ON
unset TSAN_OPTIONS

stage "Debian package: build, lintian, install, unit checks, run, remove"
bash test/package/test_package.sh

stage "libFuzzer (clang), 10 s per target, one target per core at a time"
cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DSS_FUZZ=ON \
  -DBUILD_TESTING=ON >/dev/null
targets=$(cd test/fuzz && ls fuzz_*.c | sed 's/\.c$//')
# shellcheck disable=SC2086
cmake --build build/fuzz -j"$jobs" --target $targets
# The release build's test PKI: needed by some targets, and its samples/
# (real OCSP responses, registry signatures, header blocks) seed them.
./deploy/pki.sh build/release/test-pki >/dev/null
export SS_TEST_PKI=$PWD/build/release/test-pki
# fuzz_one TARGET: 10 s of libFuzzer on TARGET, seeded with its corpus and the PKI's samples;
# prints what it ran (and, on a crash, the whole log) in one piece when it ends
fuzz_one() {
  local t=$1 parser=${1#fuzz_} work f
  work=$(mktemp -d)
  cp test/fuzz/corpus/"$parser"/* "$work"/ 2>/dev/null || true
  for f in "$SS_TEST_PKI/samples/$parser"/*; do
    if [ -f "$f" ]; then
      cp "$f" "$work/pki-${f##*/}"
    fi
  done
  if ! build/fuzz/test/"$t" -max_total_time=10 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
    printf -- '-- %s\n%s\n%s: fuzzing found a crash (input kept in %s)\n' "$t" "$(cat "$work.log")" \
      "$t" "$work"
    return 1
  fi
  printf -- '-- %s\n%s\n' "$t" "$(grep -E "^stat::(number_of_executed_units|peak_rss_mb)" "$work.log")"
  rm -rf "$work" "$work.log"
}
export -f fuzz_one
# one target per core at a time; xargs ends with a non-zero status if any target found a crash
# shellcheck disable=SC2086
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'fuzz_one "$1"' _ {}
echo "all test stages passed (in $(elapsed))"
