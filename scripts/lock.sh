#!/usr/bin/env bash
# Re-resolve requirements.lock: install the ranges of pyproject.toml (plus dev) into a scratch venv
# and freeze it. Review the diff before committing.
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/find-python310)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$python" -m venv "$scratch/venv"
"$scratch/venv/bin/pip" install --quiet --upgrade "pip==24.0"
"$scratch/venv/bin/pip" install --quiet ".[dev]"
{
  echo "# Exact versions installed by \`make install\` (Python 3.10). Regenerate with \`make lock\`."
  "$scratch/venv/bin/pip" freeze --exclude misybot-ops-assistant
} >requirements.lock
echo "lock: requirements.lock rewritten"
