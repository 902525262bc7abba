"""Helpers for end-to-end tests that drive the real server over stdio with pytest-lsp."""

from __future__ import annotations

import asyncio
import sys

from lsprotocol import types

SERVER_COMMAND = [sys.executable, "-m", "codegen_lsp", "--stdio", "--log-level", "debug"]

CAPABILITIES = types.ClientCapabilities(
    general=types.GeneralClientCapabilities(
        position_encodings=[types.PositionEncodingKind.Utf16],
    ),
    window=types.WindowClientCapabilities(work_done_progress=True),
    text_document=types.TextDocumentClientCapabilities(
        inline_completion=types.InlineCompletionClientCapabilities(),
        completion=types.CompletionClientCapabilities(),
    ),
)


async def start(client, model, encodings=None, **options) -> types.InitializeResult:
    """initialize + initialized with the model as an initialization option; waits until it is loaded."""
    capabilities = CAPABILITIES
    if encodings is not None:
        capabilities = types.ClientCapabilities(
            general=types.GeneralClientCapabilities(position_encodings=encodings),
            window=CAPABILITIES.window,
            text_document=CAPABILITIES.text_document,
        )
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            initialization_options={"model": str(model), "device": "cpu", **options},
        )
    )
    await wait_for_state(client, ("ready", "failed"))
    return result


async def complete_in_process(model, uri, text, offset, **options) -> list[str]:
    """The same pipeline in this process: the texts the server must answer."""
    from codegen_lsp.completion import Completer
    from codegen_lsp.settings import parse_settings

    settings, _ = parse_settings({"model": str(model), "device": "cpu", **options})
    completer = Completer(settings)
    try:
        assert await completer.load(lambda message, pct: None)
        return [c.text for c in await completer.complete(uri, text, offset, "python")]
    finally:
        completer.close()


async def stats(client) -> dict:
    return as_dict(await client.protocol.send_request_async("codegen/stats", None))


def as_dict(value):
    """pygls hands the result of a custom request back as nested named tuples."""
    if hasattr(value, "_asdict"):
        return {k: as_dict(v) for k, v in value._asdict().items()}
    return value


def field(result, name):
    return result[name]


async def wait_for_state(client, states, timeout: float = 60.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await stats(client)
        if field(result, "state") in states:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"server never reached {states}: {result}")
        await asyncio.sleep(0.1)


def open_document(client, uri: str, text: str, language: str = "python", version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        )
    )


def edit(client, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(*start), types.Position(*end)), text=text
                )
            ],
        )
    )


async def inline(client, uri: str, line: int, character: int, invoked: bool = False):
    kind = types.InlineCompletionTriggerKind.Invoked if invoked else types.InlineCompletionTriggerKind.Automatic
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(trigger_kind=kind),
        )
    )
