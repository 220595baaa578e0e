#!/usr/bin/env bash
# `make run`: the action server, an orchestrator worker and the Rasa server (HTTP API + channels
# from credentials.yml). Closed by default: the Rasa server listens on 127.0.0.1 (RASA_HOST) and
# its HTTP API needs the installation's token (connectors/serve.py); the action server listens on
# 127.0.0.1 only (MISYBOT_ACTIONS_HOST). Library warnings go to var/log/warnings.log; the
# terminal shows the server's own log.
#
# REPLICAS=N (`make run REPLICAS=2`) starts N Rasa servers on the one port (SO_REUSEPORT: the
# kernel spreads connections over them); they share the database, so any of them may take any
# webhook. Replica 1 logs to the terminal, the others to var/log/rasa-<n>.log.
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
replicas=${REPLICAS:-1}
if ! [[ "$replicas" =~ ^[1-9][0-9]?$ ]]; then
  echo "run: REPLICAS must be a number from 1 to 99, not '$replicas'" >&2
  exit 2
fi
serve=(.venv/bin/python -m connectors.serve --model models/misybot.tar.gz --endpoints endpoints.yml
  --credentials credentials.yml --interface "${RASA_HOST:-127.0.0.1}"
  --port "${RASA_PORT:-5005}" --enable-api)
if [ "$replicas" -eq 1 ]; then
  "${serve[@]}"
  exit
fi
echo "run: $replicas replicas on one port; replica 1 logs here, the others to var/log/rasa-<n>.log"
others=()
for n in $(seq 2 "$replicas"); do
  "${serve[@]}" --reuse-port >"var/log/rasa-$n.log" 2>&1 &
  others+=("$!")
done
trap '[ -n "$actions_pid" ] && kill "$actions_pid" 2>/dev/null; kill "$worker_pid" "${others[@]}" 2>/dev/null || true' EXIT
"${serve[@]}" --reuse-port
