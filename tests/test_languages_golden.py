"""Golden cases for per-language syntax (tests/golden/languages/*.toml, one case per file): each one a
language that some module used to get wrong, with what the user should see.

A case is `check = "postprocess"` (a document with the cursor marked `¦`, the model's raw text, and what the
whole filter chain should leave of it) or `check = "header"` (the prompt's header for a file, given the id the
editor sent and the file's uri). `on_main` records what the code gave before languages.py, for the reader.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from codegen_lsp.context import cursor_context
from codegen_lsp.postprocess import postprocess
from codegen_lsp.prompt import header
from golden import at

CASES = sorted((Path(__file__).parent / "golden" / "languages").glob("*.toml"))


def run(case: dict) -> str:
    if case["check"] == "postprocess":
        return postprocess(case["raw"], at(case["document"], case["language"]))
    if case["check"] == "header":
        ctx = cursor_context("", 0, case["language"], case["uri"])
        return header(ctx.path, ctx.language)
    raise ValueError(f"unknown check {case['check']!r}")


def test_there_are_cases():
    assert len(CASES) >= 10


@pytest.mark.parametrize("path", CASES, ids=lambda path: path.stem)
def test_language_golden(path):
    case = tomllib.loads(path.read_text(encoding="utf-8"))
    assert run(case) == case["expected"], case["description"]
    if "on_main" in case:  # the case tells the new behaviour from the old one
        assert case["on_main"] != case["expected"]
