#!/usr/bin/env bash
# Installs the real WebSocket peers the interop tests (crates/coro-websocket/tests/interop_peers.rs)
# run against: Python `websockets` (latest from PyPI) in tests-peers/.venv, and Node `ws` (the
# range in tests-peers/node/package.json) in tests-peers/node/node_modules.
#
# Needs only python3 (3.11 or later, with venv) and node 20 + npm. Safe to run again: it reuses
# what is already installed. Nothing is written outside tests-peers/.
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
