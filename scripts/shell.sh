#!/usr/bin/env bash
# `make shell [PERSONA=hub]`: the action server and an orchestrator worker in the background, a
# Rasa server with only the local REST channel on 127.0.0.1 (connectors/local.py), and Rasa's own
# console in the foreground, talking as the demo user whose persona is PERSONA (default: Ana, the
# admin, navigator). A loopback caller may name a user by e-mail: that is who you are here.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PERSONA:-}" ]; then
  user=$(.venv/bin/misybot demo user --persona "$PERSONA")
else
  user=$(.venv/bin/misybot demo user)
fi
.venv/bin/misybot secrets show identity-key >/dev/null  # generated once, shared by all three
port=${SHELL_PORT:-$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
actions_pid=$(scripts/actions-server.sh)
worker_pid=$(scripts/worker.sh)
rasa_pid=
trap '[ -n "$actions_pid" ] && kill "$actions_pid" 2>/dev/null; kill "$worker_pid" $rasa_pid 2>/dev/null || true' EXIT
mkdir -p var/log
echo "Loading the model (about a minute)…"
.venv/bin/python -m connectors.serve --model models/misybot.tar.gz --endpoints endpoints.yml \
  --connector connectors.local.LocalInput --interface 127.0.0.1 --port "$port" \
  >var/log/shell-rasa.log 2>&1 &
rasa_pid=$!
for _ in $(seq 1 900); do
  curl -fsS "http://127.0.0.1:$port/webhooks/rest/" >/dev/null 2>&1 && break
  kill -0 "$rasa_pid" 2>/dev/null || { echo "the Rasa server failed to start, see var/log/shell-rasa.log" >&2; exit 1; }
  sleep 0.2
done
echo "Talking as $user (type /stop to end)"
.venv/bin/python scripts/console.py --url "http://127.0.0.1:$port" --sender "$user"
