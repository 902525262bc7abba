"""What real editors do that broke the server, at the protocol level.

- Neovim 0.11 inserts only the first word of a plain-text completion item with spaces: clients that take snippets
  get an escaped snippet whose later lines are relative to the cursor line's indent; the others get plain text.
- eglot sends workspace/didChangeConfiguration right after `initialized`, while the model loads: the server
  stayed "loading" forever and answered nothing."""

from __future__ import annotations

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from codegen_lsp.features.completion import completion_item, escape_snippet
from lsp_helpers import SERVER_COMMAND, open_document, wait_for_state

HERE = types.Range(types.Position(3, 4), types.Position(3, 4))
BLOCK = "total = 0\n    for x in xs:\n        total += x\n    return total"


def test_plain_text_item_is_the_text_as_is():
    item = completion_item(BLOCK, HERE)
    assert item.insert_text_format == types.InsertTextFormat.PlainText
    assert item.insert_text_mode == types.InsertTextMode.AsIs
    assert item.text_edit.new_text == BLOCK and item.text_edit.range == HERE


def test_snippet_item_is_relative_to_the_cursor_line_indent():
    item = completion_item(BLOCK, HERE, indent="    ")
    assert item.insert_text_format == types.InsertTextFormat.Snippet
    assert item.insert_text_mode == types.InsertTextMode.AdjustIndentation
    # The editor adds the cursor line's four spaces back to every later line.
    assert item.text_edit.new_text == "total = 0\nfor x in xs:\n    total += x\nreturn total"
    assert item.label == "total = 0"


def test_snippet_text_escapes_what_snippets_would_expand():
    assert escape_snippet("f'${x}' + \\n") == "f'\\${x\\}' + \\\\n"
    item = completion_item('print("$HOME")', HERE, indent="")
    assert item.text_edit.new_text == 'print("\\$HOME")'


def capabilities(snippets: bool) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            completion=types.CompletionClientCapabilities(
                completion_item=types.ClientCompletionItemOptions(
                    snippet_support=snippets, documentation_format=[types.MarkupKind.Markdown]
                )
            )
        )
    )


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.mark.parametrize("snippets", [True, False])
async def test_item_format_follows_the_client_snippet_support(client, wordy_model_dir, snippets):
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(snippets),
            initialization_options={"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 6},
        )
    )
    await wait_for_state(client, ("ready",))
    open_document(client, "file:///work/x.py", "def f():\n    x = ")
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///work/x.py"), position=types.Position(1, 8)
        )
    )
    (item,) = result.items
    expected = types.InsertTextFormat.Snippet if snippets else types.InsertTextFormat.PlainText
    assert item.insert_text_format == expected and item.text_edit.new_text.strip()


async def test_configuration_change_during_the_load_does_not_lose_the_model(client, wordy_model_dir):
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(False),
            initialization_options={"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 6},
        )
    )
    # What eglot sends when the user configured nothing, and a real change of a generation setting.
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"maxNewTokens": 4}))
    assert (await wait_for_state(client, ("ready", "failed"), timeout=60))["state"] == "ready"
    open_document(client, "file:///work/x.py", "x = ")
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri="file:///work/x.py"), position=types.Position(0, 4)
        )
    )
    assert result.items and result.items[0].text_edit.new_text.strip()
