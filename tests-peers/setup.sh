#!/usr/bin/env bash
# Installs the real WebSocket peers the interop tests (crates/coro-websocket/tests/interop_peers.rs)
# run against: Python `websockets` (latest from PyPI) in tests-peers/.venv, and Node `ws` (the
# range in tests-peers/node/package.json) in tests-peers/node/node_modules. The CLI's HTTP/2 peer
# (node/h2_websocket_client.js) needs only Node itself.
#
# Also, as Debian packages (the only things written outside tests-peers/), when they are missing
# and this runs as root with apt-get: headless Chromium for crates/coro-websocket-cli/tests/
# chromium.rs, and the pub/sub brokers `redis-server` and `nats-server` that the pub/sub tests
# start on free ports. Otherwise it only says what is missing.
#
# Needs only python3 (3.11 or later, with venv) and node 20 + npm. Safe to run again: it reuses
# what is already installed.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
echo "== tests-peers: Python websockets ($("$PYTHON" --version 2>&1))"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade websockets
.venv/bin/python -c 'import websockets; print("websockets", websockets.__version__)'

echo "== tests-peers: Node ws (node $(node --version))"
(
    cd node
    npm install --no-audit --no-fund --no-package-lock --loglevel=error
    node -e 'console.log("ws", require("ws/package.json").version)'
)

echo "== tests-peers: Chromium (headless), redis-server, nats-server"
have_chromium() {
    command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ||
        command -v google-chrome >/dev/null 2>&1
}
missing=()
have_chromium || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nats-server >/dev/null 2>&1 || missing+=(nats-server)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
        # The packages start system-wide services: the tests start their own brokers.
        for service in redis-server nats-server; do
            if command -v systemctl >/dev/null 2>&1; then
                systemctl stop "$service" >/dev/null 2>&1 || true
            fi
        done
    else
        echo "!! missing ${missing[*]}: install the Debian packages (as root: apt-get install ${missing[*]})" >&2
    fi
fi
redis-server --version 2>/dev/null || true
nats-server --version 2>/dev/null || true
if have_chromium; then
    for browser in chromium chromium-browser google-chrome; do
        if command -v "$browser" >/dev/null 2>&1; then
            "$browser" --version 2>/dev/null
            break
        fi
    done
fi
