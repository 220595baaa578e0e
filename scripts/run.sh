#!/usr/bin/env bash
# `make run`: the action server, an orchestrator worker and the Rasa server (HTTP API + channels
# from credentials.yml). Closed by default: the Rasa server listens on 127.0.0.1 (RASA_HOST) and
# its HTTP API needs the installation's token (connectors/serve.py); the action server listens on
# 127.0.0.1 only (MISYBOT_ACTIONS_HOST). Library warnings go to var/log/warnings.log; the
# terminal shows the server's own log.
set -euo pipefail
cd "$(dirname "$0")/.."
if grep -q '^connectors.email.EmailInput:' credentials.yml; then
  # The channel starts its IMAP poller (IDLE or polling) and SMTP retry loop with the server.
  echo "run: e-mail channel configured: the mailbox is read while the server runs" >&2
fi
.venv/bin/misybot secrets show rasa-api-token >/dev/null  # generated once, shared by all three
actions_pid=$(scripts/actions-server.sh)
worker_pid=$(scripts/worker.sh)
trap '[ -n "$actions_pid" ] && kill "$actions_pid" 2>/dev/null; kill "$worker_pid" 2>/dev/null || true' EXIT
echo "run: action server and worker up (var/log/actions.log, var/log/worker.log)"
echo "run: loading the model (about a minute), then serving http://${RASA_HOST:-127.0.0.1}:${RASA_PORT:-5005}"
echo "run: HTTP API token: .venv/bin/misybot secrets show rasa-api-token; Ctrl-C stops everything"
.venv/bin/python -m connectors.serve --model models/misybot.tar.gz --endpoints endpoints.yml \
  --credentials credentials.yml --interface "${RASA_HOST:-127.0.0.1}" \
  --port "${RASA_PORT:-5005}" --enable-api
