#!/usr/bin/env bash
# Start IBM ContextForge (PyPI: mcp-contextforge-gateway) as a benchmark
# reference for Portcullis, register one Streamable HTTP upstream and expose
# its `echo` tool through a ContextForge virtual server.
#
#   Benchmarks/contextforge/start.sh PORT DATA_DIR UPSTREAM_URL
#   e.g. start.sh 18944 /tmp/cf http://127.0.0.1:18901/mcp
#
# Last lines on stdout (progress goes to stderr):
#   MCP_URL=http://127.0.0.1:PORT/servers/<id>/mcp   (POST JSON-RPC here)
#   TOKEN=<bearer token for the MCP client>
#   TOOL=<tool name as ContextForge exposes it, echo-upstream-echo>
#   PID=<gunicorn master pid; stop with stop.sh PID>
#
# The server is left running in the background (own session, setsid);
# its log is DATA_DIR/contextforge.log, its SQLite database
# DATA_DIR/contextforge.db, its generated secrets DATA_DIR/secrets.env.
#
# How it runs (what ContextForge ships as production: `make serve` /
# run-gunicorn.sh / the container image): gunicorn + uvicorn workers,
# --preload, no reload, access log off, ENVIRONMENT=production,
# AUTH_REQUIRED=true (JWT bearer on the admin API and on the MCP endpoint).
# Knobs (environment):
#   CF_SESSIONS    stateless (default, the package default USE_STATEFUL_SESSIONS
#                  =false): no Mcp-Session-Id, every tools/call opens a fresh
#                  MCP session to the upstream (initialize, GET, call,
#                  tools/list, DELETE); any worker can serve any request.
#                  stateful: USE_STATEFUL_SESSIONS=true (upstream's
#                  docker-compose.yml): initialize returns Mcp-Session-Id and
#                  the upstream session is reused per downstream session; the
#                  session lives in the worker that created it (multi-worker
#                  needs Redis session affinity, not set up here), so
#                  CF_WORKERS defaults to 1 in this mode.
#   CF_WORKERS     gunicorn workers; default "auto" = run-gunicorn.sh's rule
#                  min(2*nproc+1, 16) -> 5 on 2 CPUs (1 when CF_SESSIONS=stateful)
#   CF_TOKEN_KIND  api (default): API token from POST /v1/tokens scoped to the
#                  virtual server; jwt: the admin JWT minted with
#                  mcpgateway.utils.create_jwt_token (README quick start)
#   CF_PYTHON      interpreter for the venv (3.11-3.13), default python3
#   RATE_LIMITING_ENABLED  default false, as upstream's docker-compose.yml;
#                  the package default (true) allows 100 MCP requests/min/IP
#   any other ContextForge setting (LOG_LEVEL, COMPRESSION_ENABLED, ...) is
#   passed through from the caller's environment.
set -euo pipefail

if [[ $# -ne 3 ]]; then
    echo "usage: $0 PORT DATA_DIR UPSTREAM_URL" >&2
    exit 2
fi
PORT=$1
UPSTREAM_URL=$3
CF_VERSION=1.0.7

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=$ROOT/.venv-contextforge
mkdir -p "$2"
DATA=$(cd "$2" && pwd)
LOG=$DATA/contextforge.log
BASE=http://127.0.0.1:$PORT

log() { echo "[contextforge] $*" >&2; }

# 1. virtualenv with the pinned gateway -----------------------------------
installed=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("mcp-contextforge-gateway"))' 2>/dev/null || true)
if [[ "$installed" != "$CF_VERSION" ]]; then
    log "installing mcp-contextforge-gateway==$CF_VERSION into $VENV"
    [[ -x "$VENV/bin/python" ]] || "${CF_PYTHON:-python3}" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        -c "$HERE/constraints.txt" "mcp-contextforge-gateway==$CF_VERSION" >&2
fi

if curl -s -o /dev/null -m 2 "$BASE/health"; then
    echo "[contextforge] something already listens on 127.0.0.1:$PORT" >&2
    exit 1
fi

# 2. configuration ---------------------------------------------------------
if [[ ! -s "$DATA/secrets.env" ]]; then
    # JWT_SECRET_KEY, AUTH_ENCRYPTION_SECRET, BASIC_AUTH_PASSWORD,
    # PLATFORM_ADMIN_PASSWORD: the gateway refuses to start without strong ones.
    (umask 077 && cd "$DATA" && "$VENV/bin/python" -m mcpgateway.scripts.init_secrets \
        --output "$DATA/secrets.env" --force >/dev/null)
fi
set -a
# shellcheck disable=SC1091
. "$DATA/secrets.env"
set +a

case "${CF_SESSIONS:=stateless}" in
    stateless) export USE_STATEFUL_SESSIONS=false ;;
    stateful)  export USE_STATEFUL_SESSIONS=true; : "${CF_WORKERS:=1}" ;;
    *) echo "[contextforge] CF_SESSIONS must be stateless or stateful" >&2; exit 2 ;;
esac
if [[ "${CF_WORKERS:-auto}" == "auto" ]]; then
    CF_WORKERS=$(( $(nproc) * 2 + 1 ))
    (( CF_WORKERS > 16 )) && CF_WORKERS=16
fi

mkdir -p "$DATA/tmp"
export HOST=127.0.0.1
export PORT
export APP_DOMAIN=$BASE
export DATABASE_URL=sqlite:///$DATA/contextforge.db
export ENVIRONMENT=production
export DEV_MODE=false DEBUG=false RELOAD=false
export AUTH_REQUIRED=true MCP_CLIENT_AUTH_ENABLED=true MCP_REQUIRE_AUTH=true
export PLATFORM_ADMIN_EMAIL=${PLATFORM_ADMIN_EMAIL:-admin@example.com}
export MCPGATEWAY_ADMIN_API_ENABLED=true   # /v1/gateways, /v1/servers, /v1/tokens
export MCPGATEWAY_UI_ENABLED=false
export SSRF_ALLOW_LOCALHOST=true           # the upstream lives on 127.0.0.1
export RATE_LIMITING_ENABLED=${RATE_LIMITING_ENABLED:-false}
export LOG_LEVEL=${LOG_LEVEL:-ERROR}
# Keep lock files of this instance apart from any other ContextForge on the host.
export TMPDIR=$DATA/tmp
export PRIMARY_WORKER_LOCK_PATH=$DATA/tmp/primary_worker.lock
export PYTHONUNBUFFERED=1

# 3. start (daemonized) -----------------------------------------------------
log "starting ContextForge $CF_VERSION on $BASE: $CF_WORKERS gunicorn worker(s), $CF_SESSIONS sessions; log $LOG"
cd "$DATA"   # pydantic-settings would read a .env in the working directory
setsid "$VENV/bin/gunicorn" \
    -c "$HERE/gunicorn_conf.py" \
    --worker-class uvicorn.workers.UvicornWorker \
    --workers "$CF_WORKERS" \
    --bind "127.0.0.1:$PORT" \
    --timeout 600 \
    --max-requests 100000 --max-requests-jitter 100 \
    --access-logfile /dev/null --error-logfile - \
    --forwarded-allow-ips 127.0.0.1 \
    --pid "$DATA/contextforge.pid" \
    --preload \
    mcpgateway.main:app >>"$LOG" 2>&1 </dev/null &
PID=$!

fail() {
    log "$1; last log lines:"
    tail -n 30 "$LOG" >&2
    "$HERE/stop.sh" "$PID" >&2 || true
    exit 1
}

for (( i = 0; ; i++ )); do
    kill -0 "$PID" 2>/dev/null || fail "gunicorn exited during startup"
    curl -s -o /dev/null -f -m 2 "$BASE/health" && break
    (( i < ${CF_START_TIMEOUT:-180} * 2 )) || fail "not healthy after ${CF_START_TIMEOUT:-180} s"
    sleep 0.5
done

# 4. admin JWT, upstream ("gateway"), virtual server, client token ----------
ADMIN_TOKEN=$("$VENV/bin/python" -m mcpgateway.utils.create_jwt_token \
    --username "$PLATFORM_ADMIN_EMAIL" --exp 60 --secret "$JWT_SECRET_KEY" 2>/dev/null | tail -n 1)
[[ -n "$ADMIN_TOKEN" ]] || fail "could not mint the admin JWT"

OUT=$(CF_ADMIN_TOKEN=$ADMIN_TOKEN "$VENV/bin/python" "$HERE/register.py" "$BASE" "$UPSTREAM_URL") \
    || fail "registration failed"
kill -0 "$PID" 2>/dev/null || fail "gunicorn exited"

echo "$OUT"
echo "PID=$PID"
