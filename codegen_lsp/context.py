"""The cursor context: what is before and after the cursor, which language, and how much to complete."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

SKIP, LINE, BLOCK = "skip", "line", "block"

CLOSERS = set(")]}>\"'`;,: \t")
BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->")

# LSP languageId → a display name used in the prompt header; file extensions fill in when the editor
# sends a generic id.
EXTENSION_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".jsx": "javascriptreact", ".mjs": "javascript",
    ".ts": "typescript", ".tsx": "typescriptreact", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
    ".hpp": "cpp", ".cxx": "cpp", ".go": "go", ".java": "java", ".rs": "rust", ".rb": "ruby",
    ".php": "php", ".cs": "csharp", ".kt": "kotlin", ".swift": "swift", ".scala": "scala", ".sh": "shellscript",
    ".lua": "lua", ".sql": "sql",
}


@dataclass(frozen=True)
class CursorContext:
    prefix: str  # the document's text before the cursor
    suffix: str  # the document's text after the cursor
    language: str
    path: str
    mode: str  # skip | line | block

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
        line = self.line_prefix
        return line[: len(line) - len(line.lstrip(" \t"))]


def uri_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme in ("file", "") else uri


def language_of(language_id: str | None, path: str) -> str:
    if language_id and language_id not in ("plaintext", "text"):
        return language_id
    return EXTENSION_LANGUAGES.get(posixpath.splitext(path)[1].lower(), language_id or "plaintext")


def cursor_context(text: str, offset: int, language_id: str | None, uri: str, mode: str = "auto") -> CursorContext:
    offset = max(0, min(offset, len(text)))
    prefix, suffix = text[:offset], text[offset:]
    path = uri_path(uri)
    partial = CursorContext(prefix, suffix, language_of(language_id, path), path, SKIP)
    chosen = decide_mode(partial.line_prefix, partial.line_suffix) if mode == "auto" else mode
    if mode != "auto" and decide_mode(partial.line_prefix, partial.line_suffix) == SKIP:
        chosen = SKIP
    return CursorContext(prefix, suffix, partial.language, path, chosen)


def decide_mode(line_prefix: str, line_suffix: str) -> str:
    """skip when code follows the cursor on its line (except closers); a block after an opener or on an
    empty line; the rest of the line otherwise."""
    if line_suffix and not set(line_suffix) <= CLOSERS:
        return SKIP
    stripped = line_prefix.rstrip()
    if not stripped:
        return BLOCK
    if stripped.endswith(BLOCK_OPENERS) and not line_suffix.strip():
        return BLOCK
    return LINE
