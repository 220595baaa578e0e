"""``rasa data validate`` with every warning treated as an error, less one known false positive.

Rasa 3.6 warns "The utterance 'utter_x' is not used in any story or rule" for responses that forms
ask with (``utter_ask_<slot>``) and for responses that custom actions send or the default fallback
uses. Those are used, just not by a story, so this accepts such a warning only after checking that
the response really is used that way; any other warning fails the run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from domain_files import load_domain

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from misybot.commands import TOPICS  # noqa: E402

WARNING = re.compile(r"(?:UserWarning|FutureWarning): (?P<message>.+)$")
NOT_USED = re.compile(r"The utterance '(?P<name>utter_\w+)' is not used in any story or rule\.")
USED_BY_DEFAULT_ACTIONS = {"utter_default"}  # action_default_fallback sends it
# Intents that only arrive through the HTTP API (trigger_intent), never from NLU.
EXTERNAL_INTENT_NOT_IN_NLU = re.compile(
    r"The intent 'EXTERNAL_\w+' is listed in the domain file, but is not found in the NLU"
)


def responses_used_outside_stories(domain_dir: Path, code_dirs: list[Path]) -> set[str]:
    """Responses asked by forms, sent by custom actions or by Rasa's default actions, and the
    LEARN lessons (``utter_learn_<topic>``, named from the topic at run time)."""
    domain = load_domain(domain_dir)
    used = set(USED_BY_DEFAULT_ACTIONS)
    for form, spec in (domain.get("forms") or {}).items():
        for slot in spec.get("required_slots", []):
            used |= {f"utter_ask_{slot}", f"utter_ask_{form}_{slot}"}
    for directory in code_dirs:
        for source in directory.rglob("*.py"):
            used |= set(re.findall(r"[\"'](utter_\w+)[\"']", source.read_text()))
    used |= {f"utter_learn_{topic}" for topic in TOPICS}
    return used


def main() -> int:
    command = [str(Path(sys.executable).with_name("rasa")), "data", "validate", *sys.argv[1:]]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    output = completed.stdout + completed.stderr
    used = responses_used_outside_stories(Path("domain"), [Path("actions"), Path("misybot")])
    problems = []
    for line in output.splitlines():
        warning = WARNING.search(line)
        if not warning or "/rasa/" not in line:
            continue
        message = warning["message"].strip()
        unused = NOT_USED.match(message)
        if unused and unused["name"] in used:
            continue
        if EXTERNAL_INTENT_NOT_IN_NLU.match(message):
            continue
        problems.append(message)
    if completed.returncode != 0:
        problems.append(f"rasa data validate exited with {completed.returncode}")
        print(output[-4000:])
    for problem in problems:
        print(f"validate: {problem}")
    print(f"validate: {'FAILED' if problems else 'OK'} ({len(problems)} problems)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
