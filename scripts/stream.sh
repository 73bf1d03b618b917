#!/usr/bin/env bash
# The live trade stream (and, for the demo, its websocket replay server) in the background.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOCAL="${CRYPTOFLOW_LOCAL:-$ROOT/.local}"
mkdir -p "$LOCAL"

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pid() {
  if running "$1"; then
    local p; p=$(cat "$1")
    kill -TERM "$p"   # the stream flushes its buffer and records the stop on SIGTERM
    for _ in $(seq 1 30); do kill -0 "$p" 2>/dev/null || break; sleep 1; done
    kill -KILL "$p" 2>/dev/null || true
  fi
  rm -f "$1"
}

case "${1:-}" in
  start)
    # shellcheck disable=SC1091
    source "$LOCAL/airflow.env"
    running "$LOCAL/stream.pid" && { echo "trade stream already running"; exit 0; }
    setsid nohup .venv/bin/python -m cryptoflow.stream >"$LOCAL/trade-stream.log" 2>&1 </dev/null &
    echo $! >"$LOCAL/stream.pid"
    echo "trade stream started (log: $LOCAL/trade-stream.log)" ;;
  stop) stop_pid "$LOCAL/stream.pid" ;;
  replay-start)
    running "$LOCAL/ws-replay.pid" && exit 0
    PYTHONPATH=plugins setsid nohup .venv/bin/python -m cryptoflow.stream.ws_replay --port "${2:-8766}" --demo \
      >"$LOCAL/ws-replay.log" 2>&1 </dev/null &
    echo $! >"$LOCAL/ws-replay.pid" ;;
  replay-stop) stop_pid "$LOCAL/ws-replay.pid" ;;
  *) echo "usage: $0 start|stop|replay-start [PORT]|replay-stop" >&2; exit 2 ;;
esac
