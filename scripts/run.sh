#!/usr/bin/env bash
# `make run`: the action server, an orchestrator worker and the Rasa server
# (HTTP API + channels from credentials.yml).
set -euo pipefail
cd "$(dirname "$0")/.."
if grep -q '^connectors.email.EmailInput:' credentials.yml; then
  # The channel starts its IMAP poller (IDLE or polling) and SMTP retry loop with the server.
  echo "run: e-mail channel configured: the mailbox is read while the server runs" >&2
fi
actions_pid=$(scripts/actions-server.sh)
worker_pid=$(scripts/worker.sh)
trap '[ -n "$actions_pid" ] && kill "$actions_pid" 2>/dev/null; kill "$worker_pid" 2>/dev/null || true' EXIT
.venv/bin/rasa run --model models/misybot.tar.gz --endpoints endpoints.yml \
  --credentials credentials.yml --port "${RASA_PORT:-5005}" --enable-api
