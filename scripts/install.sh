#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the locked dependencies plus this project (editable).
# Re-running it when requirements.lock and pyproject.toml are unchanged only checks a stamp.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.misybot-install"
python=$(scripts/find-python310)
want=$( (cat requirements.lock pyproject.toml; "$python" -V) | sha256sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/rasa" ]; then
  exit 0
fi

echo "install: creating $venv with $python"
rm -f "$stamp"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$venv/bin/python" -m pip install --quiet --upgrade "pip==24.0"
"$venv/bin/python" -m pip install --quiet --requirement requirements.lock
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation --editable .
"$venv/bin/python" -m pip check
echo "$want" > "$stamp"
echo "install: done"
