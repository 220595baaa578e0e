#!/usr/bin/env bash
# Start an orchestrator worker (`misybot worker`) in the background; prints its PID.
# Used by shell.sh and run.sh. Results of slow agents are pushed to Rasa at MISYBOT_RASA_URL.
set -euo pipefail
mkdir -p var/log
export MISYBOT_RASA_URL=${MISYBOT_RASA_URL:-http://127.0.0.1:${RASA_PORT:-5005}}
.venv/bin/misybot worker >var/log/worker.log 2>&1 &
pid=$!
sleep 0.5
kill -0 "$pid" 2>/dev/null || { echo "worker failed to start, see var/log/worker.log" >&2; exit 1; }
echo "$pid"
