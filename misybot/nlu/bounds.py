"""How much of a message the NLU reads: the first ``MAX_TOKENS`` tokens, ``MAX_CHARS`` at most.

NLU time grows faster than the text: spaCy's tokenizer is quadratic in a run of punctuation or
emoji without spaces, and the classifier's attention in the number of tokens. A command is a
sentence or two; what follows the first few hundred tokens is never what the assistant acts on.
Tokens are counted as spaCy splits them near enough: a run of word characters, or one other
non-space character (punctuation and emoji each become a token of their own).
"""

from __future__ import annotations

import re

MAX_TOKENS = 256
MAX_CHARS = 4096
_TOKEN = re.compile(r"\w+|[^\w\s]")


def nlu_text(text: str) -> str:
    """``text`` cut after its first ``MAX_TOKENS`` tokens and ``MAX_CHARS`` characters."""
    text = text[:MAX_CHARS]
    for count, token in enumerate(_TOKEN.finditer(text)):
        if count == MAX_TOKENS:
            return text[: token.start()].rstrip()
    return text
