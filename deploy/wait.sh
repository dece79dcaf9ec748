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
    sleep 0.05
  done
}
