"""Project context through the real server (tests/scripted_server.py records the prompts it is sent): the
definition the cursor needs comes from a file that is not open, the index follows the file watcher and the
editor's unsaved text, it is built with $/progress, and the setting turns it off."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from raw_lsp import RawServer

pytest.importorskip("tree_sitter_language_pack")

SCRIPTED_SERVER = Path(__file__).with_name("scripted_server.py")
COMPILER = "from . import nodes\nfrom . import extra\n\n\ndef visit_const(node):\n    return nodes."


def respond(server: RawServer, message: dict) -> None:
    server.send({"jsonrpc": "2.0", "id": message["id"], "result": None})


def stats_when(server: RawServer, predicate, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = server.call("codegen/stats")["result"]
        if predicate(stats["project_context"]):
            return stats["project_context"]
        time.sleep(0.05)
    raise TimeoutError(f"project context never got there: {stats['project_context']}")


@pytest.fixture
def session(tmp_path):
    root = tmp_path / "project"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "nodes.py").write_text("class Node:\n    pass\n\n\nclass Const(Node):\n    def as_const(self):\n        pass\n")
    (root / "pkg" / "compiler.py").write_text(COMPILER)
    prompts = tmp_path / "prompts.jsonl"
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"raw": "Const(node.value)", "prompt_log": str(prompts)}))
    server = RawServer([sys.executable, str(SCRIPTED_SERVER), "--stdio"])
    options = {"model": str(script), "cacheEntries": 0, "typedThrough": False}
    capabilities = {
        "general": {"positionEncodings": ["utf-16"]},
        "window": {"workDoneProgress": True},
        "workspace": {"didChangeWatchedFiles": {"dynamicRegistration": True}},
    }
    server.call("initialize", {
        "processId": None, "rootUri": root.as_uri(), "capabilities": capabilities, "initializationOptions": options,
        "workspaceFolders": [{"uri": root.as_uri(), "name": "project"}],
    }, timeout=60)
    server.notify("initialized", {})
    yield server, root, prompts
    server.close()


def last_prompt(prompts: Path) -> str:
    return json.loads(prompts.read_text().strip().split("\n")[-1])


def complete_at_end(server: RawServer, uri: str, text: str) -> None:
    lines = text.split("\n")
    server.inline(uri, len(lines) - 1, len(lines[-1]))


def test_the_prompt_holds_the_definition_from_a_file_that_is_not_open(session):
    server, root, prompts = session
    # The index is built with $/progress, and a file watcher is registered.
    seen = {"index": False, "watcher": False}
    while not all(seen.values()):
        message = server.wait_for(lambda m: m.get("method") in (
            "window/workDoneProgress/create", "client/registerCapability", "$/progress"))
        if message["method"] == "client/registerCapability":
            watchers = message["params"]["registrations"][0]["registerOptions"]["watchers"]
            seen["watcher"] = any("{py," in w["globPattern"] for w in watchers)
        if message["method"] != "$/progress":
            respond(server, message)
        elif message["params"]["value"].get("message", "").endswith("definitions"):
            seen["index"] = message["params"]["value"]["kind"] == "end"
    assert server.wait_until_loaded()["state"] == "ready"
    size = stats_when(server, lambda s: s["built"])
    assert size["files"] == 3 and size["definitions"] == 3  # compiler.py ends mid-line: no definitions yet

    uri = (root / "pkg" / "compiler.py").as_uri()
    server.open(uri, COMPILER)
    complete_at_end(server, uri, COMPILER)
    prompt = last_prompt(prompts)
    assert "Compare this snippet from pkg/nodes.py" in prompt and "class Const(Node):" in prompt
    assert prompt.index("class Const(Node):") < prompt.index("def visit_const(node):")
    stats = server.call("codegen/stats")["result"]
    assert stats["project_context"]["retrieval_ms"]["count"] >= 1 and stats["last"]["retrieved"] == 1

    # A file created on disk, as the file watcher reports it.
    (root / "pkg" / "extra.py").write_text("def brand_new_helper(x):\n    return x\n")
    server.notify("workspace/didChangeWatchedFiles", {"changes": [{"uri": (root / "pkg" / "extra.py").as_uri(), "type": 1}]})
    stats_when(server, lambda s: s["definitions"] == 4)
    text = COMPILER + "x\n    return extra."
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text}]})
    complete_at_end(server, uri, text)
    assert "def brand_new_helper(x):" in last_prompt(prompts)

    # ... and deleted.
    (root / "pkg" / "extra.py").unlink()
    server.notify("workspace/didChangeWatchedFiles", {"changes": [{"uri": (root / "pkg" / "extra.py").as_uri(), "type": 3}]})
    stats_when(server, lambda s: s["definitions"] == 3)
    complete_at_end(server, uri, text)
    assert "brand_new_helper" not in last_prompt(prompts)

    # An open document's unsaved text wins over the disk.
    nodes_uri = (root / "pkg" / "nodes.py").as_uri()
    server.open(nodes_uri, "class Node:\n    pass\n\n\nclass Constant(Node):\n    pass\n")
    stats_when(server, lambda s: s["definitions"] == 2)
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3}, "contentChanges": [{"text": COMPILER}]})
    complete_at_end(server, uri, COMPILER)
    assert "class Constant(Node):" in last_prompt(prompts)

    # The setting turns it off (with nodes.py closed, nothing else comes into the prompt).
    server.notify("textDocument/didClose", {"textDocument": {"uri": nodes_uri}})
    stats_when(server, lambda s: s["definitions"] == 3)  # closed: nodes.py read from the disk again
    complete_at_end(server, uri, COMPILER)
    assert "class Const(Node):" in last_prompt(prompts)  # from the disk again
    server.notify("workspace/didChangeConfiguration", {"settings": {"codegenLsp": {"projectContext": False}}})
    complete_at_end(server, uri, COMPILER)
    assert "Compare this snippet" not in last_prompt(prompts)
