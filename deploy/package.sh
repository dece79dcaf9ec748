#!/usr/bin/env bash
# Builds the Debian package of secsrv from this tree (CMake's CPack, see
# cmake/package.cmake) in build/package and checks it with lintian.
# Prints the package's path last. Options: --no-lintian.
set -euo pipefail
cd "$(dirname "$0")/.."
lint=1
[ "${1:-}" = "--no-lintian" ] && lint=0

./deploy/install-deps.sh --package >&2
dir=build/package
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF \
  -DSS_WERROR=ON >/dev/null
cmake --build "$dir" -j"$(nproc)" >&2
(cd "$dir" && rm -f ./*.deb && cpack -G DEB >&2)
deb=$(ls "$PWD/$dir"/secsrv_*.deb)
if [ $lint -eq 1 ]; then
  echo "lintian $deb:" >&2
  # errors fail the build; warnings and information are shown
  lintian --fail-on error --tag-display-limit 0 "$deb" >&2
fi
echo "$deb"
