"""A feature of the server (esbonio's `LanguageFeature` is the model): it names the methods it answers and owns
the state behind them; the server registers its handlers and tells every feature what concerns them all.

LSP lets one handler take a method, and several features follow the same documents and settings, so those
arrive as hooks (`initialize`, `initialized`, `settings_changed`, `document_changed`, `document_closed`,
`close`) that the server calls on each feature in turn, instead of one feature's handler calling into another's
state.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from lsprotocol import types

if TYPE_CHECKING:
    from ..server import CodegenLanguageServer
    from ..settings import Settings


@dataclass(frozen=True)
class Handler:
    """A method this feature answers: an LSP method (with its registration options) or a command."""

    method: str
    function: Callable
    options: Any = None
    command: bool = False


def as_function(method: Callable) -> Callable:
    """A bound method as a plain function with its signature: pygls marks the functions it registers with
    attributes, which a bound method cannot take."""
    if inspect.iscoroutinefunction(method):

        async def handler(*args, **kwargs):
            return await method(*args, **kwargs)

    else:

        def handler(*args, **kwargs):
            return method(*args, **kwargs)

    return functools.wraps(method)(handler)


class LanguageFeature:
    def __init__(self, server: CodegenLanguageServer) -> None:
        self.server = server

    def handlers(self) -> list[Handler]:
        return []

    def initialize(self, params: types.InitializeParams) -> None:
        """The session starts (the position encoding and the client are known)."""

    def initialized(self) -> None:
        """The client is ready for the server's own requests (registrations, $/progress)."""

    def settings_changed(self, settings: Settings) -> None:
        """New settings were applied (at initialize, and at each didChangeConfiguration)."""

    def document_changed(self, params: types.DidChangeTextDocumentParams) -> None:
        """An open document was edited (the workspace has applied the change already)."""

    def document_closed(self, uri: str) -> None:
        """An open document was closed."""

    def close(self) -> None:
        """The server stops: keep what must outlive it."""
