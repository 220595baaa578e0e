#!/usr/bin/env bash
# `make shell [PERSONA=hub]`: the action server and an orchestrator worker in the background and
# `rasa shell` in the foreground, talking as the demo user whose persona is PERSONA (default: Ana,
# the admin, navigator). The conversation id is that user's e-mail address, which the actions
# resolve to the user (local identities, MISYBOT_LOCAL_IDENTITIES).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PERSONA:-}" ]; then
  user=$(.venv/bin/misybot demo user --persona "$PERSONA")
else
  user=$(.venv/bin/misybot demo user)
fi
actions_pid=$(scripts/actions-server.sh)
worker_pid=$(scripts/worker.sh)
trap '[ -n "$actions_pid" ] && kill "$actions_pid" 2>/dev/null; kill "$worker_pid" 2>/dev/null || true' EXIT
echo "Talking as $user (type /stop to end)"
.venv/bin/rasa shell --model models/misybot.tar.gz --endpoints endpoints.yml \
  --conversation-id "$user"
