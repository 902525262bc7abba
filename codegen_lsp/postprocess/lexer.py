"""Just enough lexing to tell brackets and line ends inside code from those inside strings and comments.

Not a parser: it knows the quote and comment syntax of the languages we complete (Python's triple
quotes and `#`, the C family's `//` and `/* */`, JavaScript's and Go's backtick strings), which is what
the filters need to find a clean place to cut.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPENING, CLOSING = "([{", ")]}"
HASH_COMMENT_LANGUAGES = {"python", "shellscript", "ruby", "perl", "r", "yaml", "coffeescript", "makefile", "toml"}
SLASH_COMMENT_LANGUAGES = {
    "c", "cpp", "csharp", "go", "java", "javascript", "javascriptreact", "typescript", "typescriptreact",
    "rust", "kotlin", "swift", "scala", "php", "dart", "objective-c",
}
MULTILINE_QUOTES = {"python": ('"""', "'''"), "javascript": ("`",), "typescript": ("`",), "go": ("`",)}
MULTILINE_QUOTES["javascriptreact"] = MULTILINE_QUOTES["typescriptreact"] = ("`",)


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
        self.hash_comments = language in HASH_COMMENT_LANGUAGES
        self.slash_comments = language in SLASH_COMMENT_LANGUAGES or language not in HASH_COMMENT_LANGUAGES
        self.multiline = MULTILINE_QUOTES.get(language, ())
        self.literal: str | None = None  # the quote (or "*/", "\n") that ends the current literal
        self.skip = 0  # characters of a multi-character delimiter already consumed
        self.depth = 0
        self.parens = 0  # the part of depth opened by `(` and `[`
        self.outer = False  # the open literal was opened before the scanned text

    def feed(self, text: str, i: int, result: Scan | None) -> None:
        ch = text[i]
        if self.skip:
            self.skip -= 1
            return
        if ch == "\n":
            if result is not None:
                # only a literal that can span lines is open at a line end (an unclosed "abc ends with its line)
                result.line_ends.append((i, self.depth, self.literal in self.multiline or self.literal == "*/"))
                result.open_parens.append(self.parens)
            if self.literal is not None and self.literal not in self.multiline and self.literal != "*/":
                self.literal = None  # a line comment ends; so does an unterminated one-line string
            return
        if self.literal is not None:
            if ch == "\\" and self.literal not in ("\n", "*/"):
                self.skip = 1
            elif text.startswith(self.literal, i) and self.literal != "\n":
                self.skip, self.literal = len(self.literal) - 1, None
                if self.outer and result is not None and result.outer_quote_close is None:
                    result.outer_quote_close = i
                self.outer = False
            return
        for quote in self.multiline:
            if len(quote) > 1 and text.startswith(quote, i):
                self.literal, self.skip = quote, len(quote) - 1
                return
        if ch in "\"'`":
            self.literal = ch
        elif (self.hash_comments and ch == "#") or (self.slash_comments and text.startswith("//", i)):
            self.literal = "\n"
        elif self.slash_comments and text.startswith("/*", i):
            self.literal, self.skip = "*/", 1
        elif ch in OPENING:
            self.depth += 1
            self.parens += ch != "{"
        elif ch in CLOSING:
            self.depth -= 1
            self.parens -= ch != "}"
            if result is not None:
                result.closes.append((i, ch, self.depth))
                if self.depth < 0 and result.first_unmatched_close is None:
                    result.first_unmatched_close = i
