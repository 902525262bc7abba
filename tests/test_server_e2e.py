"""The server end to end, over stdio, with a real (tiny) model loaded through from_pretrained."""

from __future__ import annotations

import asyncio

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_helpers import SERVER_COMMAND, complete_in_process, edit, field, inline, open_document, start, stats

URI = "file:///work/example.py"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_capabilities_advertise_both_providers_and_encoding(client: LanguageClient, wordy_model_dir):
    result = await start(client, wordy_model_dir)
    caps = result.capabilities
    assert isinstance(caps.inline_completion_provider, types.InlineCompletionOptions)
    assert caps.completion_provider is not None
    assert caps.position_encoding == types.PositionEncodingKind.Utf16
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental


async def test_loading_reports_progress_begin_report_end(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir)
    kinds = [type(v).__name__ for reports in client.progress_reports.values() for v in reports]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    assert "WorkDoneProgressReport" in kinds


async def test_inline_completion_after_incremental_edits(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=12)
    open_document(client, URI, "import os\n\n")
    # in a comment: the random model's words must parse to be shown
    edit(client, URI, 2, (2, 0), (2, 0), "def main():\n    # value = os.")
    edit(client, URI, 3, (3, 17), (3, 17), "path")
    result = await inline(client, URI, 3, 21)
    assert len(result.items) == 1
    item = result.items[0]
    assert item.range == types.Range(types.Position(3, 21), types.Position(3, 21))
    assert item.insert_text.strip() and "\n" not in item.insert_text  # mid-line: the rest of the line


async def test_classic_completion_carries_a_text_edit(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=8)
    open_document(client, URI, "x = compute(")
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=URI), position=types.Position(0, 12))
    )
    assert len(result.items) == 1
    edit_ = result.items[0].text_edit
    assert edit_.range.start == types.Position(0, 12) and edit_.new_text.strip()


@pytest.mark.parametrize("encoding", [types.PositionEncodingKind.Utf16, types.PositionEncodingKind.Utf8])
async def test_position_after_emoji_and_cjk_uses_the_negotiated_encoding(client, wordy_model_dir, encoding):
    result = await start(client, wordy_model_dir, encodings=[encoding], maxNewTokens=6)
    assert result.capabilities.position_encoding == encoding
    line = 'print("😀漢字", nam)'
    open_document(client, URI, line)
    offset = line.index("nam") + 3  # code points
    units = len(line[:offset].encode("utf-16-le" if encoding == "utf-16" else "utf-8"))
    if encoding == "utf-16":
        units //= 2
    assert units > offset  # the emoji and CJK take more units than code points
    answer = await inline(client, URI, 0, units)
    # The same pipeline in this process, at the right code-point offset, says what the server must answer.
    expected = await complete_in_process(wordy_model_dir, URI, line, offset, maxNewTokens=6)
    assert answer.items and [i.insert_text for i in answer.items] == expected
    assert answer.items[0].range.start.character == units


async def test_repeated_request_is_served_from_cache(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=8)
    open_document(client, URI, "result = value + ")
    first = await inline(client, URI, 0, 17)
    second = await inline(client, URI, 0, 17)
    assert first.items[0].insert_text == second.items[0].insert_text
    s = await stats(client)
    assert s["model_calls"] == 1 and s["cache_hits"] == 1


async def test_cancel_request_stops_a_long_generation(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=2000, mode="block")
    open_document(client, URI, "def long():\n    ")
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=types.Position(1, 4),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
    )
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(
        client.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=4242)
    )
    await generation_running(client)
    cancelled_at = loop.time()
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=4242))
    with pytest.raises(Exception) as err:
        await asyncio.wait_for(task, timeout=10)
    assert "-32800" in repr(err.value) or "cancel" in repr(err.value).lower()
    assert loop.time() - cancelled_at < 2.0
    # The generation itself stopped at its next decode step, far short of its 2,000 tokens (its tokens are
    # counted when the engine returns).
    s = await stats_once(client, lambda s: s["model_calls"] == 1)
    assert s["cancelled"] == 1 and s["tokens_generated"] < 2000 and s["tokens_wasted"] == s["tokens_generated"]
    open_document(client, "file:///work/other.py", "name = ")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"maxNewTokens": 4}))
    result = await inline(client, "file:///work/other.py", 0, 7)
    assert result.items


async def stats_once(client: LanguageClient, condition, timeout: float = 60.0) -> dict:
    """codegen/stats once `condition` holds for it (polled: the counters are the server's state)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition(s := await stats(client)):
        assert asyncio.get_running_loop().time() < deadline, s
        await asyncio.sleep(0.02)
    return s


async def generation_running(client: LanguageClient) -> None:
    """Until the model thread runs the test's first generation, so that what the test sends next lands while it
    runs, however busy the machine is."""
    await stats_once(client, lambda s: s["max_running"] == 1)


async def test_newer_request_supersedes_an_older_one(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=2000, mode="block")
    open_document(client, URI, "def long():\n    ")
    old = asyncio.ensure_future(inline(client, URI, 1, 4))
    await generation_running(client)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings={"maxNewTokens": 4}))
    edit(client, URI, 2, (1, 4), (1, 4), "x = ")
    new = await inline(client, URI, 1, 8)
    assert (await asyncio.wait_for(old, timeout=10)).items == ()
    assert new.items and new.items[0].insert_text.strip()
    s = await stats(client)
    assert s["superseded"] == 1 and s["max_running"] == 1 and s["tokens_wasted"] < 2000


async def test_model_that_fails_to_load_reports_once_and_keeps_serving(client: LanguageClient, tmp_path):
    await start(client, tmp_path / "no-such-model")
    assert field(await stats(client), "state") == "failed"
    errors = [m for m in client.messages if m.type == types.MessageType.Error]
    assert len(errors) == 1 and "no-such-model" in errors[0].message
    open_document(client, URI, "x = ")
    for _ in range(3):
        assert (await inline(client, URI, 0, 4)).items == ()
    assert len([m for m in client.messages if m.type == types.MessageType.Error]) == 1


async def test_invalid_setting_warns_and_keeps_the_default(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens="lots", device="gpu9")
    warnings = [m.message for m in client.messages if m.type == types.MessageType.Warning]
    assert any("maxNewTokens" in w for w in warnings) and any("device" in w for w in warnings)
    assert field(await stats(client), "state") == "ready"


async def test_bad_params_answer_empty_and_the_server_stays_up(client: LanguageClient, wordy_model_dir):
    await start(client, wordy_model_dir, maxNewTokens=6)
    assert (await inline(client, "file:///never/opened.py", 0, 0)).items == ()
    open_document(client, URI, "a = 1\nb = ")
    assert (await inline(client, URI, 40, 0)).items == ()  # line past the end of the file
    past_line_end = await inline(client, URI, 1, 99)  # character past the end: clamped, as the spec says
    assert past_line_end.items and past_line_end.items[0].range.start.character == 99
    assert (await inline(client, URI, 1, 4)).items
