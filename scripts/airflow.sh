#!/usr/bin/env bash
# Start or stop `airflow standalone` (and the trade stream) in the background for `make run` / `make demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
LOCAL="${CRYPTOFLOW_LOCAL:-$ROOT/.local}"   # overridable: the browser test runs its own stack
# shellcheck disable=SC1091
source "$LOCAL/airflow.env"
export PATH="$ROOT/.venv/bin:$PATH"
PIDFILE="$LOCAL/airflow.pid"
LOG="$LOCAL/airflow-standalone.log"

is_running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if is_running; then
    echo "Airflow is already running (pid $(cat "$PIDFILE")) on http://localhost:$AIRFLOW_PORT"
  else
    python scripts/devenv.py check-port "$AIRFLOW_PORT" "Airflow UI"
    echo "starting airflow standalone (log: $LOG)"
    setsid nohup airflow standalone >"$LOG" 2>&1 < /dev/null &
    echo $! >"$PIDFILE"
  fi
  for _ in $(seq 1 180); do
    if curl -fsS "http://localhost:$AIRFLOW_PORT/api/v2/monitor/health" >/dev/null 2>&1; then
      echo "Airflow UI: http://localhost:$AIRFLOW_PORT  (user admin, password: $(password))"
      import_errors
      return 0
    fi
    is_running || { echo "error: airflow standalone exited; last lines of $LOG:" >&2; tail -n 30 "$LOG" >&2; exit 1; }
    sleep 2
  done
  echo "error: Airflow did not become healthy in 6 minutes; see $LOG" >&2
  exit 1
}

password() {
  python - "$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated" <<'PY'
import json, sys
try:
    print(json.load(open(sys.argv[1])).get("admin", "?"))
except OSError:
    print("(see the log)")
PY
}

import_errors() {
  airflow dags list-import-errors -o plain 2>/dev/null | grep -v "^No data found" || true
}

stop() {
  if is_running; then
    local pid; pid=$(cat "$PIDFILE")
    echo "stopping Airflow (pid $pid)"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
