"""The golden suite: editing situations as data files (tests/golden/cases/*.toml, one per case), each run
through the real server over stdio with a scripted engine (tests/scripted_server.py) that "generates" the
case's raw model text, stopping where the server tells it to, as the real engines do.

A case names the language, the document with the cursor marked `¦`, the model's raw text, the document the
user has after accepting the first item (its range and text applied as an editor applies them), and what
behaviour it pins. `expected_insert_only` is the document for a client that cannot replace a range (the item's
insertion form), when that differs. `fim = true`: the model fills in the middle (it sees the code after the
cursor). Cases with no item expect the document unchanged.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest

from codegen_lsp.languages import language
from golden import CURSOR, at
from raw_lsp import RawServer

CASES_DIR = Path(__file__).with_name("golden") / "cases"
SCRIPTED_SERVER = Path(__file__).with_name("scripted_server.py")
FIELDS = {"pins", "language", "document", "raw", "expected"}


def load_cases() -> list[dict]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.toml")):
        case = tomllib.loads(path.read_text(encoding="utf-8"))
        assert FIELDS <= set(case), f"{path.name} lacks {FIELDS - set(case)}"
        cases.append({**case, "name": path.stem})
    return cases


CASES = load_cases()


def utf16_position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return line, len(text[start:offset].encode("utf-16-le")) // 2


def offset_of(text: str, line: int, character: int) -> int:
    start = 0
    for _ in range(line):
        start = text.index("\n", start) + 1
    units, offset = 0, start
    while units < character:
        units += 2 if ord(text[offset]) > 0xFFFF else 1
        offset += 1
    return offset


def accept(text: str, item: dict) -> str:
    """The document after an editor applies the item: its range replaced by its text."""
    start, end = item["range"]["start"], item["range"]["end"]
    begin, finish = offset_of(text, start["line"], start["character"]), offset_of(text, end["line"], end["character"])
    return text[:begin] + item["insertText"] + text[finish:]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    script = tmp_path_factory.mktemp("golden") / "script.json"
    script.write_text(json.dumps({"raw": ""}))
    server = RawServer([sys.executable, str(SCRIPTED_SERVER), "--stdio"])
    options = {"model": str(script), "cacheEntries": 0, "typedThrough": False, "maxNewTokens": 400}
    server.call("initialize", {
        "processId": None, "rootUri": None, "clientInfo": {"name": "golden-suite"},
        "capabilities": {"general": {"positionEncodings": ["utf-16"]}}, "initializationOptions": options,
    }, timeout=60)
    server.notify("initialized", {})
    assert server.wait_until_loaded()["state"] == "ready", server.stderr[-2000:]
    yield server, script
    server.close()


def test_the_suite_is_large_and_varied():
    assert len(CASES) >= 150
    assert len({case["language"] for case in CASES}) >= 4


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_golden_case_through_the_server(server, case):
    lsp, script = server
    document = case["document"]
    assert document.count(CURSOR) == 1, "mark the cursor exactly once"
    offset = document.index(CURSOR)
    text = document.replace(CURSOR, "")
    script.write_text(json.dumps({"raw": case["raw"], "fim": case.get("fim", False)}))
    uri = f"file:///golden/{case['name']}{(language(case['language']).extensions or ('.txt',))[0]}"
    lsp.open(uri, text, language=case["language"])
    try:
        answer = lsp.inline(uri, *utf16_position(text, offset))
    finally:
        lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert "error" not in answer, answer
    items = answer["result"]["items"]
    after = accept(text, items[0]) if items else text
    assert after == case["expected"], f"pins: {case['pins']}\nitem: {items[:1]}"


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_golden_case_as_an_insertion(case):
    """What a client that cannot replace a range gets, from the model's whole text (no early stop)."""
    from codegen_lsp.postprocess import completion_for

    ctx = at(case["document"], case["language"], fills_in_the_middle=case.get("fim", False))
    shown = completion_for(case["raw"], ctx) if ctx.mode != "skip" else None  # the model is not asked there
    after = ctx.prefix + (shown.insert_text if shown else "") + ctx.suffix
    assert after == case.get("expected_insert_only", case["expected"]), f"pins: {case['pins']}"


def start_scripted(tmp_path, client_name: str, raw: str) -> RawServer:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"raw": raw}))
    server = RawServer([sys.executable, str(SCRIPTED_SERVER), "--stdio"])
    server.call("initialize", {
        "processId": None, "rootUri": None, "clientInfo": {"name": client_name},
        "capabilities": {"general": {"positionEncodings": ["utf-16"]}},
        "initializationOptions": {"model": str(script), "cacheEntries": 0},
    }, timeout=60)
    server.notify("initialized", {})
    assert server.wait_until_loaded()["state"] == "ready", server.stderr[-2000:]
    return server


def test_classic_item_replaces_the_closers_too(tmp_path):
    """A classic completion item carries the same replacement as its textEdit (range over `"`)."""
    server = start_scripted(tmp_path, "golden-suite", 'hello";\n')
    try:
        server.open("file:///p/a.js", 'const s = ""\n', language="javascript")
        answer = server.call("textDocument/completion", {
            "textDocument": {"uri": "file:///p/a.js"}, "position": {"line": 0, "character": 11}})
        edit = answer["result"]["items"][0]["textEdit"]
        assert edit["newText"] == 'hello";'
        assert edit["range"] == {"start": {"line": 0, "character": 11}, "end": {"line": 0, "character": 12}}
    finally:
        server.close()


def test_neovim_gets_a_multi_line_replacement_as_an_insertion(tmp_path):
    """Neovim draws a replacing item's first line over the range: a body of lines that would replace `})` comes
    as the insertion before them instead (the `})` stays; the model's `;` after it is dropped)."""
    server = start_scripted(tmp_path, "Neovim", "\n  console.log(data);\n});\n")
    try:
        server.open("file:///p/a.js", "fetch(u).then((data) => {})\n", language="javascript")
        item = server.inline("file:///p/a.js", 0, 25)["result"]["items"][0]
        assert item["insertText"] == "\n  console.log(data);\n"
        assert item["range"]["start"] == item["range"]["end"] == {"line": 0, "character": 25}
    finally:
        server.close()


def test_neovim_gets_a_signature_and_body_as_a_replacement(tmp_path):
    """Past the closer: Neovim draws the first line (`r) -> float:`) over the `)` it replaces and the body
    below, so the multi-line item keeps its range; its insertion form would leave `)` after the colon."""
    server = start_scripted(tmp_path, "Neovim", "r) -> float:\n    return 3.14 * r * r\n")
    try:
        server.open("file:///p/a.py", "def area()\n", language="python")
        item = server.inline("file:///p/a.py", 0, 9)["result"]["items"][0]
        assert item["insertText"] == "r) -> float:\n    return 3.14 * r * r"
        assert item["range"] == {"start": {"line": 0, "character": 9}, "end": {"line": 0, "character": 10}}
    finally:
        server.close()
