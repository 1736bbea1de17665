#!/usr/bin/env bash
# Install / start / stop the SEKMET FHIR R4 test server (sekmet-fhir on PyPI)
# in its own virtual environment, for integration tests and CI.
#
#   bash scripts/fhir-test-server.sh install        # venv + pinned deps (idempotent)
#   bash scripts/fhir-test-server.sh start [PORT]   # prints FHIR_AT_TEST_SERVER=<base url>
#   bash scripts/fhir-test-server.sh status
#   bash scripts/fhir-test-server.sh stop
#
# Typical use:
#   bash scripts/fhir-test-server.sh install
#   export "$(bash scripts/fhir-test-server.sh start)"
#   ...; bash scripts/fhir-test-server.sh stop
#
# Environment:
#   FHIR_AT_SERVER_HOME  state dir (venv, settings, data, log, pid); default
#                        .fhir-test-server, relative to the repository root
#   PYTHON               interpreter used to create the venv (default python3)
#   FHIR_AT_SERVER_READY_TIMEOUT  seconds to wait for /metadata (default 30)
#
# Only stdout line ever printed: the FHIR_AT_TEST_SERVER=... line of `start`.
# Everything else goes to stderr.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
cd "$REPO_ROOT"

SERVER_HOME="${FHIR_AT_SERVER_HOME:-.fhir-test-server}"
mkdir -p "$SERVER_HOME"
SERVER_HOME="$(cd "$SERVER_HOME" && pwd)"   # absolute from here on (runtime only)
VENV="$SERVER_HOME/venv"
CONFIG="$SERVER_HOME/settings.yaml"
DATA_DIR="$SERVER_HOME/data"
LOG="$SERVER_HOME/server.log"
PID_FILE="$SERVER_HOME/server.pid"
URL_FILE="$SERVER_HOME/server.url"
READY_TIMEOUT="${FHIR_AT_SERVER_READY_TIMEOUT:-30}"

SEKMET_SPEC="sekmet-fhir==0.1.1"
# Known-good dependency set (sekmet-fhir itself does not pin its dependencies).
PINNED_DEPS=(
  "fastapi==0.165.0"
  "starlette==1.10.0"
  "uvicorn==0.55.0"
  "pydantic==2.14.4"
  "fhir.resources==8.3.0"
  "fhirpathpy==2.2.4"
  "httpx==0.29.0"
  "PyYAML==6.0.4"
)

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1

log() { printf '[fhir-test-server] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

installed_ok() {
  [[ -x "$VENV/bin/python" && -x "$VENV/bin/sekmet" ]] || return 1
  "$VENV/bin/python" - <<'EOF' >/dev/null 2>&1
import importlib.metadata as md
assert md.version("sekmet-fhir") == "0.1.1"
import sekmet, fastapi, uvicorn, fhir.resources, fhirpathpy, yaml  # noqa: F401
EOF
}

cmd_install() {
  if installed_ok; then
    log "already installed in $VENV"
    return 0
  fi
  local py="${PYTHON:-python3}"
  command -v "$py" >/dev/null || die "$py not found"
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv $VENV"
    "$py" -m venv "$VENV"
  fi
  log "installing $SEKMET_SPEC ${PINNED_DEPS[*]}"
  "$VENV/bin/python" -m pip install -q "$SEKMET_SPEC" "${PINNED_DEPS[@]}" >&2
  installed_ok || die "installation finished but sekmet is not importable"
  log "installed"
}

# PID recorded in the pid file if that process is alive and is our sekmet.
running_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled PID: it must be our server with our config.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$CONFIG" || return 1
  printf '%s\n' "$pid"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# HTTP status of GET $1 (000 on connection error); ignores proxy settings.
http_status() {
  "$VENV/bin/python" - "$1" <<'EOF' 2>/dev/null || echo 000
import sys, urllib.request, urllib.error
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
req = urllib.request.Request(sys.argv[1], headers={"Accept": "application/fhir+json"})
try:
    with opener.open(req, timeout=2) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print("000")
EOF
}

kill_group() {
  local pid="$1" i
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "process group $pid did not exit after SIGTERM; sending SIGKILL"
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 20; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping server (process group $pid)"
    kill_group "$pid" || die "could not stop process $pid"
  else
    log "no running server recorded"
  fi
  rm -f "$PID_FILE" "$URL_FILE"
}

cmd_start() {
  local port="${1:-}"
  installed_ok || die "server not installed; run: bash scripts/fhir-test-server.sh install"
  if running_pid >/dev/null; then
    log "a server is already running; stopping it first (its data is discarded)"
    cmd_stop
  fi
  rm -f "$PID_FILE" "$URL_FILE"
  if [[ -z "$port" ]]; then
    port="$(free_port)"
  fi
  [[ "$port" =~ ^[0-9]+$ ]] || die "invalid port: $port"
  local base="http://127.0.0.1:$port/fhir"

  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  cat >"$CONFIG" <<EOF
base_url: $base
host: 127.0.0.1
port: $port
data_dir: $DATA_DIR
log_inbound: false
simulator:
  enabled: false
EOF

  # SEKMET lets these environment variables override the settings file.
  unset SEKMET_CONFIG SEKMET_BASE_URL SEKMET_DB SEKMET_PUBLIC_URL SEKMET_PORT

  log "starting sekmet on 127.0.0.1:$port (log: $LOG)"
  # The inner shell writes its own PID, then execs the server: that PID is the
  # session and process-group leader (setsid), so stop can kill the group.
  (
    cd "$SERVER_HOME"
    exec setsid bash -c 'echo $$ >"$1"; exec "$2" serve --config "$3"' \
      _ "$PID_FILE" "$VENV/bin/sekmet" "$CONFIG" \
      </dev/null >"$LOG" 2>&1
  ) &

  local t0=$SECONDS pid="" code=000 why="not ready within ${READY_TIMEOUT}s"
  while ((SECONDS - t0 < READY_TIMEOUT)); do
    if [[ -z "$pid" && -s "$PID_FILE" ]]; then
      pid="$(cat "$PID_FILE")"
    fi
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      why="server process exited"
      break
    fi
    code="$(http_status "$base/metadata")"
    [[ "$code" == 200 ]] && break
    sleep 0.2
  done

  if [[ "$code" != 200 ]]; then
    log "start failed: $why (last GET $base/metadata status: $code)"
    log "---- tail of $LOG ----"
    tail -n 40 "$LOG" >&2 || true
    log "----"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill_group "$pid" || true
    fi
    rm -f "$PID_FILE" "$URL_FILE"
    exit 1
  fi
  printf '%s\n' "$base" >"$URL_FILE"
  log "ready after $((SECONDS - t0))s (pid $pid)"
  printf 'FHIR_AT_TEST_SERVER=%s\n' "$base"
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    local url
    url="$(cat "$URL_FILE" 2>/dev/null || true)"
    log "running: pid $pid, base ${url:-unknown}"
    if [[ -n "$url" ]]; then
      log "GET /metadata -> $(http_status "$url/metadata")"
    fi
    return 0
  fi
  if installed_ok; then
    log "not running (installed in $VENV)"
  else
    log "not running (not installed)"
  fi
  return 3
}

usage() {
  sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "${1:-}" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) usage ;;
esac
