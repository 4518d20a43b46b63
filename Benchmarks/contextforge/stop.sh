#!/usr/bin/env bash
# Stop a ContextForge started by start.sh: Benchmarks/contextforge/stop.sh PID
# SIGTERM to the gunicorn master (it stops its workers), wait up to 30 s,
# then SIGKILL the master and whatever workers it still had.
set -u
if [[ $# -ne 1 || ! "$1" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 PID" >&2
    exit 2
fi
PID=$1
kill -0 "$PID" 2>/dev/null || { echo "[contextforge] pid $PID is not running" >&2; exit 0; }
CHILDREN=$(pgrep -P "$PID" || true)
kill -TERM "$PID"
for _ in $(seq 1 300); do
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
    echo "[contextforge] pid $PID still alive after 30 s, sending SIGKILL" >&2
    kill -KILL "$PID" 2>/dev/null || true
fi
for c in $CHILDREN; do
    kill -0 "$c" 2>/dev/null && kill -KILL "$c" 2>/dev/null
done
# reap if it is our child; otherwise just make sure it is gone
wait "$PID" 2>/dev/null || true
for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || exit 0; sleep 0.1; done
echo "[contextforge] pid $PID did not exit" >&2
exit 1
