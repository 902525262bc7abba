"""Golden cases for the post-processing filters: a document with the cursor marked `¦`, the model's raw
text, and what the user should see."""

from __future__ import annotations

from codegen_lsp.context import CursorContext, cursor_context
from codegen_lsp.languages import language as language_record

CURSOR = "¦"


def at(document: str, language: str, mode: str = "auto", fills_in_the_middle: bool = False) -> CursorContext:
    assert document.count(CURSOR) == 1, "mark the cursor exactly once"
    offset = document.index(CURSOR)
    text = document.replace(CURSOR, "")
    extension = (language_record(language).extensions or (".txt",))[0]
    return cursor_context(text, offset, language, f"file:///src/example{extension}", mode, fills_in_the_middle)
