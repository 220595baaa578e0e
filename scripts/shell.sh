#!/usr/bin/env bash
# `make shell [PERSONA=hub]`: the action server and an orchestrator worker in the background, a
# Rasa server with only the local REST channel on 127.0.0.1 (connectors/local.py), and Rasa's own
# console in the foreground, talking as the demo user whose persona is PERSONA (default: Ana, the
# admin, navigator). A loopback caller may name a user by e-mail: that is who you are here.
# Everything the servers and libraries print goes to var/log/; the terminal shows the conversation.
set -euo pipefail
cd "$(dirname "$0")/.."
persona=()
[ -n "${PERSONA:-}" ] && persona=(--persona "$PERSONA")
user=$(.venv/bin/misybot demo user "${persona[@]}")
who=$(.venv/bin/misybot demo user "${persona[@]}" --describe)
.venv/bin/misybot secrets show identity-key >/dev/null  # generated once, shared by all three
port=${SHELL_PORT:-$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
mkdir -p var/log
printf 'Starting the action server and a worker… '
actions_pid=$(scripts/actions-server.sh)
worker_pid=$(scripts/worker.sh)
rasa_pid=
trap '[ -n "$actions_pid" ] && kill "$actions_pid" 2>/dev/null; kill "$worker_pid" $rasa_pid 2>/dev/null || true' EXIT
echo "ready (logs: var/log/actions.log, var/log/worker.log)"
.venv/bin/python -m connectors.serve --model models/misybot.tar.gz --endpoints endpoints.yml \
  --connector connectors.local.LocalInput --interface 127.0.0.1 --port "$port" \
  >var/log/shell-rasa.log 2>&1 &
rasa_pid=$!
started=$SECONDS
until curl -fsS "http://127.0.0.1:$port/webhooks/rest/" >/dev/null 2>&1; do
  kill -0 "$rasa_pid" 2>/dev/null || { echo; echo "the Rasa server stopped, see var/log/shell-rasa.log" >&2; exit 1; }
  printf '\rLoading the model (about a minute; log: var/log/shell-rasa.log)… %d s' $((SECONDS - started))
  sleep 1
done
printf '\rLoading the model… done in %d s%40s\n\n' $((SECONDS - started)) ""
echo "You are talking as $who. Type /stop to end."
.venv/bin/python scripts/console.py --url "http://127.0.0.1:$port" --sender "$user" 2>>var/log/shell-console.log
