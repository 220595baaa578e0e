#!/usr/bin/env bash
# Start the action server in the background (unless one answers already) and wait until healthy.
# Prints its PID (empty when an existing server is reused). Used by shell.sh and run.sh.
set -euo pipefail
port=${ACTIONS_PORT:-5055}
if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
  exit 0
fi
mkdir -p var/log
# Only this machine may call it (our Rasa server); a tracker made up by anyone else names nobody
# anyway: who is asking is the sender a connector signed (misybot/identity.py).
SANIC_HOST=${MISYBOT_ACTIONS_HOST:-127.0.0.1} \
  .venv/bin/python -m rasa_sdk --actions actions --port "$port" >var/log/actions.log 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    echo "$pid"
    exit 0
  fi
  kill -0 "$pid" 2>/dev/null || { echo "action server failed to start, see var/log/actions.log" >&2; exit 1; }
  sleep 0.2
done
echo "action server did not answer on port $port within 60 s" >&2
kill "$pid" 2>/dev/null || true
exit 1
