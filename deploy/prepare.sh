# shellcheck shell=bash
# prepare [--bench] TARGET...: what the demos and benchmarks do first, from the source tree's
# top: installs the Debian packages (install-deps.sh; with --bench also the benchmark tools),
# builds TARGET... in build/release (only errors and warnings are shown; a failed build prints
# its output and fails), and exports SS_BUILD_DIR. Sourcing this file also defines wait_until
# (deploy/wait.sh).
# shellcheck disable=SC1091
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

prepare() {
  local deps=() out
  if [ "${1:-}" = --bench ]; then
    deps=(--bench)
    shift
  fi
  ./deploy/install-deps.sh "${deps[@]}"
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  if ! out=$(cmake --build build/release -j"$(nproc)" --target "$@" 2>&1); then
    printf '%s\n' "$out"
    return 1
  fi
  grep -E "error|warning" <<<"$out" || true
  export SS_BUILD_DIR=$PWD/build/release
}
