#!/usr/bin/env bash
# `make shell`: the action server and an orchestrator worker in the background and `rasa shell` in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
actions_pid=$(scripts/actions-server.sh)
worker_pid=$(scripts/worker.sh)
trap '[ -n "$actions_pid" ] && kill "$actions_pid" 2>/dev/null; kill "$worker_pid" 2>/dev/null || true' EXIT
.venv/bin/rasa shell --model models/misybot.tar.gz --endpoints endpoints.yml
