"""Just enough lexing to tell brackets and line ends inside code from those inside strings and comments.

Not a parser: it knows each language's comment and string syntax from its record in `languages.py`
(Python's triple quotes and `#`, the C family's `//` and `/* */`, Lua's `--` and `[[ ]]`, Rust's lifetimes
...), which is what the filters need to find a clean place to cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..languages import language as language_record

OPENING, CLOSING = "([{", ")]}"
WORD_BREAKS = " \t;&|()"  # where a shell word (and so a `#` comment) may start


@dataclass
class Scan:
    """What one pass over a completion found."""

    # (offset of a "\n", bracket depth there, inside a string or block comment there) for every line end
    line_ends: list[tuple[int, int, bool]] = field(default_factory=list)
    depth: int = 0  # brackets opened minus closed by the text, at its end
    in_literal: bool = False  # the text ends inside a string or block comment
    first_unmatched_close: int | None = None  # offset of the first closer of a bracket the text did not open
    closes: list[tuple[int, str, int]] = field(default_factory=list)  # (offset, bracket, depth after it)
    outer_quote_close: int | None = None  # offset of the quote that ends a string the line prefix opened
    balanced_ends: list[int] = field(default_factory=list)  # offsets after code where nothing is left open
    # for every line end, the `(` and `[` (not `{`) left open there: the next line continues an expression
    open_parens: list[int] = field(default_factory=list)
    unclosed: list[int] = field(default_factory=list)  # offsets of the brackets the text leaves open

    @property
    def first_outer_close(self) -> int | None:
        """Where the text first closes something it did not open: from there on it belongs after the cursor."""
        found = [i for i in (self.first_unmatched_close, self.outer_quote_close) if i is not None]
        return min(found) if found else None


def scan(text: str, language: str, line_prefix: str = "") -> Scan:
    """Scan `text` as code that follows `line_prefix` on the cursor's line (which may leave a string open)."""
    state = _State(language)
    for ch_index in range(len(line_prefix)):
        state.feed(line_prefix, ch_index, None)
    state.depth, state.parens, state.outer = 0, 0, state.literal not in (None, "\n")
    result = Scan()
    for i in range(len(text)):
        state.feed(text, i, result)
        if state.literal is None and state.depth <= 0 and not state.skip and not text[i].isspace():
            result.balanced_ends.append(i + 1)
    result.depth, result.in_literal = state.depth, state.literal is not None
    return result


class _State:
    def __init__(self, language: str) -> None:
        record = language_record(language)
        self.record = record
        # (opener, closer, spans lines, is a string): block comments first, so that Lua's `--[[` is not read
        # as a line comment, nor Haskell's `{-` as a bracket
        self.openers = (
            [(opener, closer, True, False) for opener, closer in record.block_comments]
            + [(marker, "\n", False, False) for marker in record.line_comments]
            + [(opener, closer, True, True) for opener, closer in record.multiline_strings]
            + [(quote, quote, False, True) for quote in record.quotes]
        )
        self.first_chars = frozenset(opener[0] for opener, *_ in self.openers)
        self.literal: str | None = None  # the text (a quote, "*/", "\n") that ends the current literal
        self.spans_lines = False  # the current literal goes on past a line end
        self.in_string = False  # the current literal is a string (backslash escapes), not a comment
        self.skip = 0  # characters of a multi-character delimiter already consumed
        self.depth = 0
        self.parens = 0  # the part of depth opened by `(` and `[`
        self.outer = False  # the open literal was opened before the scanned text
        self.previous = "\n"  # the character before the current one

    def feed(self, text: str, i: int, result: Scan | None) -> None:
        ch, previous = text[i], self.previous
        self.previous = ch
        if self.skip:
            self.skip -= 1
            return
        if ch == "\n":
            if result is not None:
                # only a literal that can span lines is open at a line end (an unclosed "abc ends with its line)
                result.line_ends.append((i, self.depth, self.literal is not None and self.spans_lines))
                result.open_parens.append(self.parens)
            if self.literal is not None and not self.spans_lines:
                self.literal = None  # a line comment ends; so does an unterminated one-line string
            return
        if self.literal is not None:
            if ch == "\\" and self.in_string:
                self.skip = 1
            elif self.literal != "\n" and text.startswith(self.literal, i):
                self.skip, self.literal = len(self.literal) - 1, None
                if self.outer and result is not None and result.outer_quote_close is None:
                    result.outer_quote_close = i
                self.outer = False
            return
        if ch in self.first_chars:
            for opener, closer, spans_lines, in_string in self.openers:
                if text.startswith(opener, i) and (in_string or self._comment_may_start(opener, previous)):
                    self.literal, self.spans_lines, self.in_string = closer, spans_lines, in_string
                    self.skip = len(opener) - 1
                    return
        if ch == "'" and self.record.char_literals:
            self.skip = max(_char_literal_length(text, i) - 1, 0)  # a lifetime or a prime: no literal
        elif ch in OPENING:
            self.depth += 1
            self.parens += ch != "{"
            if result is not None:
                result.unclosed.append(i)
        elif ch in CLOSING:
            self.depth -= 1
            self.parens -= ch != "}"
            if result is not None:
                if result.unclosed:
                    result.unclosed.pop()
                result.closes.append((i, ch, self.depth))
                if self.depth < 0 and result.first_unmatched_close is None:
                    result.first_unmatched_close = i

    def _comment_may_start(self, marker: str, previous: str) -> bool:
        return not self.record.comments_start_words or marker not in self.record.line_comments or (
            previous == "\n" or previous in WORD_BREAKS
        )


def _char_literal_length(text: str, i: int) -> int:
    """The length of the character literal ('x', '\\n', '\\u{1F600}') that starts at text[i], or 0."""
    if text[i + 1 : i + 2] == "\\":
        end = text.find("'", i + 3, i + 13)
        return end - i + 1 if end > 0 and "\n" not in text[i:end] else 0
    return 3 if text[i + 2 : i + 3] == "'" and text[i + 1 : i + 2] not in ("", "\n", "'") else 0
