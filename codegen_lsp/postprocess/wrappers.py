"""Strip what chat-style models wrap a completion in.

Instruct models behind an OpenAI-compatible server often answer with a Markdown code fence around the code
(```` ```python ... ``` ````) or echo the prompt's markers (`<COMPLETION>`, `<|cursor|>`). Neither is code: the
fence's lines and the markers are removed, and what is inside is the completion (a fence's closing line ends it).
"""

from __future__ import annotations

import re

from ..context import CursorContext

MARKERS = re.compile(
    r"</?(?:COMPLETION|CODE|CURSOR|cursor|FILL_HERE|MID|SUF|PRE)>|<\|(?:cursor|fim_middle|fim_suffix|fim_prefix)\|>"
    r"|\{\{FILL_HERE\}\}"
)
FENCE = re.compile(r"^[ \t]*```[\w+#.-]*[ \t]*$")
PROSE_LANGUAGES = ("markdown", "plaintext", "text")  # where a fence may be what the user is writing


def strip_wrappers(text: str, ctx: CursorContext) -> str:
    text = MARKERS.sub("", text)
    if ctx.language in PROSE_LANGUAGES:
        return text
    lines = text.split("\n")
    start = next((number for number, line in enumerate(lines) if line.strip()), None)
    if start is None or not FENCE.match(lines[start]):
        return text
    inside = lines[start + 1 :]
    closing = next((number for number, line in enumerate(inside) if FENCE.match(line)), len(inside))
    return "\n".join(lines[:start] + inside[:closing]) if inside[:closing] else ""


def closed(text: str, ctx: CursorContext) -> bool:
    """The model has written a fence and closed it: nothing after that is shown."""
    if ctx.language in PROSE_LANGUAGES:
        return False
    fences = [line for line in text.split("\n") if FENCE.match(line)]
    return len(fences) >= 2 and bool(text.strip()) and FENCE.match(text.lstrip("\n").split("\n", 1)[0]) is not None
