"""What the user kept, through the real server over stdio: every inline item carries the accept command, and the
server counts what the editor reports (workspace/executeCommand, didShowCompletion, didPartiallyAcceptCompletion)
and how much accepted text is still there 30 s and 2 min later, by a clock the test moves (tests/clocked_server.py)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_helpers import edit, inline, open_document, start, stats

ACCEPT = "codegen-lsp.didAcceptCompletionItem"
URI = "file:///work/example.py"
WORK = Path(tempfile.mkdtemp(prefix="codegen-acceptance-"))
CLOCK = WORK / "clock"
STATE = WORK / "state"
COUNTERS = STATE / "codegen-lsp" / "acceptance.json"
SERVER = [sys.executable, str(Path(__file__).with_name("clocked_server.py")), "--stdio", "--log-level", "debug"]
ENV = {**os.environ, "CODEGEN_TEST_CLOCK": str(CLOCK), "XDG_STATE_HOME": str(STATE), "HF_HUB_OFFLINE": "1"}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER, server_env=ENV))
async def client(lsp_client: LanguageClient):
    CLOCK.write_text("0")
    yield
    await lsp_client.shutdown_session()


def set_clock(seconds: float) -> None:
    CLOCK.write_text(str(seconds))


async def acceptance(client) -> dict:
    return (await stats(client))["acceptance"]


async def suggestion(client, text: str = "import os\n\ndef main():\n    value = ", invoked: bool = False):
    """Open the document and ask at its end: the first inline item."""
    open_document(client, URI, text)
    lines = text.split("\n")
    result = await inline(client, URI, len(lines) - 1, len(lines[-1]), invoked)
    assert result.items, "the model answered nothing"
    return result.items


def insert(client, version: int, item: types.InlineCompletionItem, text: str | None = None) -> None:
    """What an editor does on accept: put the item's text (or the part taken) over its range."""
    r = item.range
    edit(client, URI, version, (r.start.line, r.start.character), (r.end.line, r.end.character),
         item.insert_text if text is None else text)


def accept(client, item: types.InlineCompletionItem):
    assert item.command.command == ACCEPT
    return client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=item.command.command, arguments=item.command.arguments)
    )


def show(client, item: types.InlineCompletionItem) -> None:
    client.protocol.notify("textDocument/didShowCompletion", {"item": client.protocol._converter.unstructure(item)})


def take(client, item: types.InlineCompletionItem, accepted_length) -> None:
    item_json = client.protocol._converter.unstructure(item)
    client.protocol.notify("textDocument/didPartiallyAcceptCompletion", {"item": item_json, "acceptedLength": accepted_length})


async def test_accept_command_is_advertised_and_counts_a_tab(client: LanguageClient, wordy_model_dir):
    result = await start(client, wordy_model_dir, maxNewTokens=8)
    assert ACCEPT in result.capabilities.execute_command_provider.commands
    items = await suggestion(client)
    item = items[0]
    assert item.command and item.command.arguments and isinstance(item.command.arguments[0], str)
    insert(client, 2, item)
    assert await accept(client, item) is None
    counts = await acceptance(client)
    assert counts["offered"] == 1 and counts["shown"] == 1 and counts["accepted"] == 1  # accepted means it was shown
    assert counts["accepted_chars"] == len(item.insert_text) and counts["partial_chars"] == 0
    assert counts["accept_rate"] == 1.0
    # split by mode (mid-line: the rest of the line), language and engine
    assert counts["by_mode"]["line"]["accepted"] == 1
    assert counts["by_language"]["python"]["accepted"] == 1
    assert counts["by_engine"]["fast"]["accepted"] == 1


async def test_shown_without_accept_lowers_the_accept_rate(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=8)
    item = (await suggestion(client))[0]
    show(client, item)
    show(client, item)  # the same item reported twice is one shown suggestion
    counts = await acceptance(client)
    assert (counts["shown"], counts["accepted"], counts["accept_rate"]) == (1, 0, 0.0)


async def test_partial_accept_counts_utf16_units_and_typing_through_keeps_the_suggestion(client, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=8)
    item = (await suggestion(client))[0]
    show(client, item)
    word = item.insert_text[: max(1, item.insert_text.find(" ", 1))]
    insert(client, 2, item, word)
    take(client, item, len(word))
    counts = await acceptance(client)
    assert counts["partially_accepted"] == 1 and counts["partial_chars"] == len(word)
    assert counts["accepted"] == 0 and counts["accepted_chars"] == len(word)
    # The next answer is the rest of the same suggestion (typed-through): showing and accepting it counts that one
    # suggestion, not a new one.
    line = "    value = " + word
    rest = await inline(client, URI, 3, len(line))
    assert rest.items and rest.items[0].insert_text == item.insert_text[len(word):]
    show(client, rest.items[0])
    insert(client, 3, rest.items[0])
    await accept(client, rest.items[0])
    counts = await acceptance(client)
    assert (counts["offered"], counts["shown"], counts["accepted"], counts["partially_accepted"]) == (1, 1, 1, 1)
    assert counts["accepted_chars"] == len(item.insert_text)


async def test_retention_after_deleting_half_of_the_accepted_text(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=12)
    prefix = "    value = "
    item = (await suggestion(client))[0]
    text = item.insert_text
    assert len(text) >= 4, text
    insert(client, 2, item)
    await accept(client, item)
    edit(client, URI, 3, (0, 0), (0, 0), "import sys\n")  # an edit above moves the accepted text down a line
    half = len(text) // 2
    edit(client, URI, 4, (4, len(prefix) + len(text) - half), (4, len(prefix) + len(text)), "")  # delete its 2nd half
    edit(client, URI, 5, (4, len(prefix) + len(text) - half), (4, len(prefix) + len(text) - half), "  # typed after")
    counts = await acceptance(client)
    assert counts["checked_chars_30s"] == 0 and counts["kept_rate"] is None  # nothing is due yet
    set_clock(31)
    counts = await acceptance(client)
    assert counts["checked_chars_30s"] == len(text) and counts["kept_chars_30s"] == len(text) - half
    assert counts["checked_chars_120s"] == 0
    edit(client, URI, 6, (4, 0), (5, 0), "")  # later the whole line goes
    set_clock(121)
    counts = await acceptance(client)
    assert counts["kept_chars_30s"] == len(text) - half  # measured once, at 30 s
    assert counts["checked_chars_120s"] == len(text) and counts["kept_chars_120s"] == 0
    assert counts["kept_rate"] == 0.0 and counts["kept_rate_30s"] == pytest.approx((len(text) - half) / len(text))


async def test_bad_reports_are_ignored_without_a_popup(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=8)
    item = (await suggestion(client))[0]
    for arguments in ([], [12], ["no-such-item"], [{"id": 1}], None):
        assert await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=ACCEPT, arguments=arguments)
        ) is None
    take(client, item, len(item.insert_text.encode("utf-16-le")) // 2 + 1)  # past the text
    take(client, item, "3")  # a wrong type
    take(client, item, -1)
    client.protocol.notify("textDocument/didShowCompletion", {"item": {"insertText": "x"}})  # not our item
    client.protocol.notify("textDocument/didShowCompletion", [1, 2])
    client.protocol.notify("textDocument/didPartiallyAcceptCompletion", None)
    insert(client, 2, item)
    await accept(client, item)
    await accept(client, item)  # twice: counted once
    counts = await acceptance(client)
    assert (counts["shown"], counts["accepted"], counts["partially_accepted"]) == (1, 1, 0)
    assert counts["accepted_chars"] == len(item.insert_text)
    assert not [m for m in client.messages if m.type == types.MessageType.Error]
    # and the server goes on answering
    assert (await inline(client, URI, 3, len("    value = " + item.insert_text))) is not None


async def test_counters_are_saved_without_code(client: LanguageClient, wordy_model_dir):
    shutil.rmtree(STATE, ignore_errors=True)
    await start(client, wordy_model_dir, maxNewTokens=8, persistStats=True)
    item = (await suggestion(client))[0]
    insert(client, 2, item)
    await accept(client, item)
    counts = await acceptance(client)
    assert counts["saved"]["accepted"] == 1 and counts["saved"]["file"] == str(COUNTERS)
    set_clock(61)  # counters are written at most once a minute (and at shutdown)
    show(client, item)
    await acceptance(client)
    saved = COUNTERS.read_text()
    data = json.loads(saved)
    (day,) = data["days"]
    (row,) = data["days"][day]
    assert row["key"] == ["line", "python", "fast"] and row["counts"]["accepted"] == 1
    assert item.insert_text.strip() not in saved and "value" not in saved  # counters only, never code


async def test_saved_counters_are_read_back_and_added_to(client: LanguageClient, wordy_model_dir):
    COUNTERS.parent.mkdir(parents=True, exist_ok=True)
    earlier = {"key": ["block", "python", "transformers"], "counts": {"shown": 8, "accepted": 5, "accepted_chars": 90}}
    COUNTERS.write_text(json.dumps({"version": 1, "days": {"2026-09-01": [earlier]}}))
    await start(client, wordy_model_dir, maxNewTokens=8, persistStats=True)
    counts = await acceptance(client)
    assert counts["accepted"] == 0  # this session
    assert counts["saved"]["accepted"] == 5 and counts["saved"]["by_mode"]["block"]["accept_rate"] == 5 / 8
    item = (await suggestion(client))[0]
    insert(client, 2, item)
    await accept(client, item)
    counts = await acceptance(client)
    assert counts["saved"]["accepted"] == 6 and len(counts["saved"]["days"]) == 2
