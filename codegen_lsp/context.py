"""The cursor context: what is before and after the cursor, which language, and how much to complete."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote, urlparse

from .languages import canonical_id, language_for_path


class Mode(StrEnum):
    """How much to complete at a cursor (the `mode` setting adds auto: decide per cursor)."""

    SKIP = "skip"  # nothing: the cursor is in the middle of a word or before code
    LINE = "line"  # to the end of the line
    BLOCK = "block"  # the block the line opens


SKIP, LINE, BLOCK = Mode.SKIP, Mode.LINE, Mode.BLOCK

CLOSERS = set(")]}>\"'`;,: \t\r")  # \r: the line end of a CRLF document
BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->")
PAIRS = {"(": ")", "[": "]", "{": "}"}
# What an auto-closed pair leaves after the cursor that the completion may write itself (`;` `:` `,` alone
# are separators, not pairs: with only those after the cursor the completion is not inside anything).
PAIR_CLOSERS = set(")]}\"'`")


def leading_whitespace(line: str) -> str:
    """The spaces and tabs a line starts with (its indentation)."""
    return line[: len(line) - len(line.lstrip(" \t"))]


@dataclass(frozen=True)
class CursorContext:
    prefix: str  # the document's text before the cursor
    suffix: str  # the document's text after the cursor
    language: str
    path: str
    mode: Mode

    @property
    def line_prefix(self) -> str:
        return self.prefix[self.prefix.rfind("\n") + 1 :]

    @property
    def line_suffix(self) -> str:
        end = self.suffix.find("\n")
        return self.suffix if end < 0 else self.suffix[:end]

    @property
    def indent(self) -> str:
        """The indentation of the line the cursor is on."""
        return leading_whitespace(self.line_prefix)

    @property
    def code_after(self) -> bool:
        """Code (not only closing brackets, quotes and separators) follows the cursor on its line."""
        return has_code(self.line_suffix)

    @property
    def auto_closed(self) -> str:
        """The closers an editor (or the user) put after the cursor: the rest of its line when that is only
        closing brackets, quotes and separators with at least one bracket or quote (`foo(¦)`, `"¦";`, `{¦}`);
        "" otherwise. A completion may write them itself: it then replaces them (see postprocess.pairs)."""
        return auto_closed(self.line_suffix)

    @property
    def block_pair(self) -> bool:
        """The cursor sits between an opener ending the text before it and its closer (`{¦}`, `(¦)`, `[¦]`):
        the completion may be a block of lines, with the closer once at its end."""
        return _is_block_pair(self.line_prefix, self.line_suffix)

    @property
    def indent_unit(self) -> str:
        """One level of the document's indentation: a tab, or its usual number of spaces."""
        return indent_unit(self.prefix + self.suffix, default="\t" if "\t" in self.indent else "    ")


def uri_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("file", "") else uri


def language_of(language_id: str | None, path: str) -> str:
    """The language's id in languages.py (whichever editor's name for it was sent); the file's extension
    decides when the editor sends a generic id."""
    if language_id and language_id not in ("plaintext", "text"):
        return canonical_id(language_id)
    found = language_for_path(path)
    return found.id if found is not None else language_id or "plaintext"


def cursor_context(
    text: str, offset: int, language_id: str | None, uri: str, mode: str = "auto", fills_in_the_middle: bool = False
) -> CursorContext:
    """`fills_in_the_middle`: the model sees the code after the cursor, so a cursor before code on its line (not
    inside a word) is worth asking: the filters keep what fits before that code."""
    offset = max(0, min(offset, len(text)))
    prefix, suffix = text[:offset], text[offset:]
    path = uri_path(uri)
    partial = CursorContext(prefix, suffix, language_of(language_id, path), path, SKIP)
    decided = decide_mode(partial.line_prefix, partial.line_suffix)
    if decided == SKIP and fills_in_the_middle and not _inside_word(partial.line_prefix, partial.line_suffix):
        decided = LINE
    chosen = decided if mode == "auto" or decided == SKIP else Mode(mode)
    return CursorContext(prefix, suffix, partial.language, path, chosen)


def _inside_word(line_prefix: str, line_suffix: str) -> bool:
    before, after = line_prefix[-1:], line_suffix[:1]
    return (before.isalnum() or before == "_") and (after.isalnum() or after == "_")


def decide_mode(line_prefix: str, line_suffix: str) -> Mode:
    """How much to complete at a cursor, from its line alone.

    skip: inside a word, or at the indentation of a line that already has code (but before a word right
    after `(` or `,` the arguments that go before it are completed: `sum(¦baz)`);
    block: after a block opener (`:` `{` `=>` ...) at the end of the line, or on an empty line;
    line: anywhere else, the rest of the line — also with only closers after the cursor (the filters keep
    them from being doubled) or with other code after it (the filters keep only what fits before it).
    """
    if before_argument(line_prefix, line_suffix):
        return LINE
    if line_suffix[:1].isalnum() or line_suffix[:1] == "_" or (has_code(line_suffix) and not line_prefix.strip()):
        return SKIP  # (only closers after the indentation, `    ¦)`: an argument list's next line)
    stripped = line_prefix.rstrip()
    if not stripped:
        return BLOCK
    if not line_suffix.strip() and stripped.endswith(BLOCK_OPENERS):
        return BLOCK
    if _is_block_pair(line_prefix, line_suffix):
        return BLOCK  # `{¦}`: a body, however the editor closed the pair
    return LINE


def before_argument(line_prefix: str, line_suffix: str) -> bool:
    """`sum(¦baz)`, `log(a, ¦b)`: a word follows the cursor right after an argument list's `(` or `,`."""
    word = line_suffix[:1]
    return (word.isalpha() or word == "_") and line_prefix.rstrip()[-1:] in ("(", ",")


def auto_closed(line_suffix: str) -> str:
    rest = line_suffix.rstrip()
    return rest if rest and not has_code(rest) and set(rest) & PAIR_CLOSERS else ""


def _is_block_pair(line_prefix: str, line_suffix: str) -> bool:
    closers = auto_closed(line_suffix)
    stripped = line_prefix.rstrip()
    return bool(closers) and stripped[-1:] in PAIRS and closers.lstrip()[0] == PAIRS[stripped[-1]]


def has_code(line_suffix: str) -> bool:
    return not set(line_suffix) <= CLOSERS


def indent_unit(text: str, default: str = "    ") -> str:
    """The document's indentation step: a tab when most indented lines start with one, else the most
    common increase in leading spaces between consecutive indented lines (falling back to `default`)."""
    tabs = spaces = 0
    steps: dict[int, int] = {}
    previous = 0
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("\t"):
            tabs += 1
            continue
        width = len(line) - len(line.lstrip(" "))
        if width:
            spaces += 1
        if width > previous:
            steps[width - previous] = steps.get(width - previous, 0) + 1
        previous = width
    if tabs > spaces:
        return "\t"
    if not steps:
        return "\t" if tabs else default
    return " " * max(steps, key=lambda step: (steps[step], -step))
