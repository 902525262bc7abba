"""Serving LSP over TCP: one client at a time.

The server holds one session: one set of open documents, one model, one acceptance tracker, one `exit`. So a
TCP port serves one client, like stdio. The first connection that sends a byte owns the session; its end ends
the server (as stdin closing does). Every other connection gets one `window/showMessage` error that says the
port is taken and is closed; it never sees the session's answers or documents, and its coming and going
never touches the session. A connection that closes before sending anything (a port probe, a health check)
leaves no trace, whether it came before the session or during it.

One session per connection (a server per connection) was the alternative: it would load one model per client
(gigabytes each) and share nothing; an editor that wants the server starts one per workspace anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

READ_SIZE = 1 << 16
PORT_TAKEN = (
    "codegen-lsp: another client is in session on this port; this server serves one client at a time "
    "(start another codegen-lsp on another port, or use --stdio)"
)
# Errors that mean the peer went away: a normal end of a connection, never a traceback.
DISCONNECTED = (ConnectionError, BrokenPipeError, TimeoutError)


def framed(message: dict) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def refusal() -> bytes:
    """What a connection that finds the port taken reads before it is closed."""
    params = {"type": 1, "message": PORT_TAKEN}  # 1: MessageType.Error
    return framed({"jsonrpc": "2.0", "method": "window/showMessage", "params": params})


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """The next bytes, or b"" when the peer closed (or reset) the connection."""
    try:
        return await reader.read(READ_SIZE)
    except DISCONNECTED:
        return b""


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await writer.wait_closed()
    except DISCONNECTED:
        pass


class OneClient:
    """Hands the session to the first connection that speaks; refuses the others with a message.

    `serve(next_chunk, writer)` runs the session on the owning connection (its first chunk included) and returns
    when it ends; `ended()` is called after it (the server shuts down)."""

    def __init__(
        self,
        serve: Callable[[Callable[[], Awaitable[bytes]], asyncio.StreamWriter], Awaitable[None]],
        ended: Callable[[], None],
    ) -> None:
        self._serve = serve
        self._ended = ended
        self.owner: asyncio.StreamWriter | None = None

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """asyncio.start_server's callback: one per accepted connection."""
        try:
            if self.owner is not None:
                await self._refuse(writer)
                return
            first = await read_chunk(reader)
            if not first:  # a probe: connected and left without a word
                log.debug("a connection closed before sending anything")
                return
            if self.owner is not None:  # another connection spoke first while this one was silent
                await self._refuse(writer)
                return
            self.owner = writer
            log.info("a client connected over TCP: serving it")
            unread = [first]

            async def next_chunk() -> bytes:
                return unread.pop() if unread else await read_chunk(reader)

            try:
                await self._serve(next_chunk, writer)
            finally:
                log.info("the TCP client's connection ended")
                self._ended()
        finally:
            await close_quietly(writer)

    async def _refuse(self, writer: asyncio.StreamWriter) -> None:
        log.warning("refused a TCP connection: a client is in session (one client at a time)")
        try:
            writer.write(refusal())
            await writer.drain()
        except DISCONNECTED:
            pass
