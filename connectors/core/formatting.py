"""Turning the assistant's markdown replies into what a chat channel can show."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence

_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__", re.S)
_ITALIC = re.compile(r"(?<![*\w])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![*\w])")
_STRIKE = re.compile(r"~~(.+?)~~", re.S)
_LINK = re.compile(r"\[([^\]]+)\]\((\S+?)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)
_BULLET = re.compile(r"^(\s*)[*-]\s+", re.M)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def markdown_to_whatsapp(text: str) -> str:
    """Markdown → WhatsApp: ``**b**`` → ``*b*``, ``*i*`` → ``_i_``, ``~~s~~`` → ``~s~``."""
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _ITALIC.sub(lambda m: f"_{m.group(1)}_", text)
    text = _BOLD.sub(lambda m: f"\x00{m.group(1) or m.group(2)}\x00", text)
    text = _HEADING.sub(lambda m: f"\x00{m.group(1)}\x00", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    return text.replace("\x00", "*")


def markdown_to_plain(text: str, bullet: str = "•") -> str:
    """Markdown → plain text for channels that show no formatting (Messenger, Instagram; e-mail's
    text part with ``bullet="-"``): markers dropped, links as ``text (url)``, list items kept."""
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}{bullet} ", text)
    text = _BOLD.sub(lambda m: m.group(1) or m.group(2), text)
    text = _ITALIC.sub(lambda m: m.group(1), text)
    text = _HEADING.sub(lambda m: m.group(1), text)
    return _STRIKE.sub(lambda m: m.group(1), text)


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Chunks of at most ``limit`` (``measure``: characters, or e.g. ``utf8_length`` for bytes),
    cut at paragraphs, then lines, sentences, words."""
    text = text.strip()
    if measure(text) <= limit:
        return [text] if text else []
    chunks: list[str] = []
    for separator, pieces in (("\n\n", None), ("\n", None), (" ", _SENTENCE_END), (" ", None)):
        parts = pieces.split(text) if pieces else text.split(separator)
        if len(parts) > 1 and all(measure(part) <= limit for part in parts):
            return _pack(parts, separator, limit, measure)
        if len(parts) > 1:
            # Keep this level's boundaries; split only the parts that are still too long.
            for part in _pack(parts, separator, limit, measure):
                too_long = measure(part) > limit
                chunks.extend(split_text(part, limit, measure) if too_long else [part])
            return chunks
    return _cut(text, limit, measure)  # one unbroken word


def _cut(text: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    """A word longer than ``limit`` in pieces that fit, never inside a character."""
    pieces: list[str] = []
    current = ""
    for character in text:
        if current and measure(current + character) > limit:
            pieces.append(current)
            current = ""
        current += character
    return [*pieces, current] if current else pieces


def _pack(
    parts: Iterable[str], separator: str, limit: int, measure: Callable[[str], int] = len
) -> list[str]:
    packed: list[str] = []
    current = ""
    for part in (p.strip() for p in parts):
        if not part:
            continue
        candidate = f"{current}{separator}{part}" if current else part
        if measure(candidate) <= limit or not current:
            current = candidate
        else:
            packed.append(current)
            current = part
    if current:
        packed.append(current)
    return packed


def numbered_options(text: str, buttons: Sequence[dict]) -> str:
    """Buttons as a numbered list under the text (for channels without native buttons)."""
    lines = [text.rstrip()] if text else []
    lines += [f"{index}. {button.get('title', '')}" for index, button in enumerate(buttons, 1)]
    if buttons:
        lines.append("Reply with a number.")
    return "\n".join(lines)


def choose_option(text: str, buttons: Sequence[dict]) -> str | None:
    """The payload of the option a numbered reply (``"2"``) or a title picks, if any."""
    answer = text.strip().rstrip(".").lower()
    if answer.isdigit() and 1 <= int(answer) <= len(buttons):
        return buttons[int(answer) - 1].get("payload")
    for button in buttons:
        if answer and answer == str(button.get("title", "")).strip().lower():
            return button.get("payload")
    return None


def markdown_to_html(text: str) -> str:
    """Markdown → an HTML fragment: paragraphs, ``-``/``*`` lists, bold, italic, strike, links,
    headings. Everything else is escaped, so reply text can never inject markup."""
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        items = [_BULLET.match(line) for line in lines]
        if all(items):
            rendered = "".join(
                f"<li>{_inline_html(line[item.end() :])}</li>"
                for line, item in zip(lines, items, strict=True)
            )
            blocks.append(f"<ul>{rendered}</ul>")
            continue
        html_lines: list[str] = []
        for line, item in zip(lines, items, strict=True):
            heading = re.match(r"^(#{1,6})\s+(.+)$", line)
            if heading:
                level = min(len(heading.group(1)) + 1, 6)
                blocks.append(f"<h{level}>{_inline_html(heading.group(2))}</h{level}>")
            elif item:
                html_lines.append("&bull; " + _inline_html(line[item.end() :]))
            else:
                html_lines.append(_inline_html(line))
        if html_lines:
            blocks.append("<p>" + "<br>\n".join(html_lines) + "</p>")
    return "\n".join(blocks)


def _inline_html(text: str) -> str:
    text = html.escape(text, quote=True)
    text = _LINK.sub(
        lambda m: (
            f'<a href="{m.group(2)}">{m.group(1)}</a>'
            if m.group(2).startswith(("http://", "https://", "mailto:"))
            else f"{m.group(1)} ({m.group(2)})"
        ),
        text,
    )
    text = _BOLD.sub(lambda m: f"<strong>{m.group(1) or m.group(2)}</strong>", text)
    text = _ITALIC.sub(lambda m: f"<em>{m.group(1)}</em>", text)
    return _STRIKE.sub(lambda m: f"<s>{m.group(1)}</s>", text)
