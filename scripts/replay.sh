#!/usr/bin/env bash
# Start or stop the demo replay server (every source's recorded data) in the background for `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
LOCAL="${CRYPTOFLOW_LOCAL:-$PWD/.local}"
PIDFILE=$LOCAL/replay.pid
LOG=$LOCAL/replay.log
mkdir -p "$LOCAL"

case "${1:-}" in
  start)
    port=${2:-8765}
    if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "replay server already running (pid $(cat "$PIDFILE"))"; exit 0
    fi
    .venv/bin/python scripts/devenv.py check-port "$port" "demo replay server"
    AIRFLOW_HOME="$LOCAL/airflow" AIRFLOW__CORE__LOAD_EXAMPLES=False PYTHONPATH=plugins setsid nohup .venv/bin/python -m cryptoflow.replay --demo --port "$port" >"$LOG" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 30); do
      curl -fsS "http://127.0.0.1:$port/__replay/health" >/dev/null 2>&1 && { echo "replay server on http://127.0.0.1:$port (log $LOG)"; exit 0; }
      sleep 1
    done
    echo "error: the replay server did not start; see $LOG" >&2; exit 1 ;;
  stop)
    if [ -f "$PIDFILE" ]; then kill "$(cat "$PIDFILE")" 2>/dev/null || true; rm -f "$PIDFILE"; fi ;;
  *) echo "usage: $0 start [PORT] | stop" >&2; exit 2 ;;
esac
