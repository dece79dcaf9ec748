# wait_until DESCRIPTION SECONDS CMD...: waits for a state rather than for a
# time: true as soon as CMD succeeds (tried every 0.05 s, in this shell, so
# CMD may count), false at the deadline after saying what it gave up on.
# Sourced by the demo, the benchmark and the integration tests.
wait_until() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    if [ $SECONDS -ge "$deadline" ]; then
      echo "# gave up waiting for: $what (${limit}s)"
      return 1
    fi
    nap 0.05
  done
}

# nap SECONDS: sleeps without starting a process, as a read that times out on
# a pipe no one writes to (a wait loop of a test would otherwise start
# thousands of sleep processes)
nap() {
  local _nap
  [ -n "${SS_NAP_FD:-}" ] || exec {SS_NAP_FD}<> <(:)
  read -r -t "$1" -u "$SS_NAP_FD" _nap || true
}

# alive PID: PID runs (a zombie is not alive: it holds no port, file or lock
# any more, and an orphan stays a zombie until the machine's init reaps it,
# which may take seconds); reads /proc without starting a process
alive() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
