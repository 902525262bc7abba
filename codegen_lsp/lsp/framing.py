"""LSP's framing read the way HTTP reads headers: the byte stream in, message bodies out.

pygls 2.1 reads a header only when it is exactly `Content-Length: N\\r\\n`: a lowercase name, a missing space,
LF line ends or a `Content-Type` header first make it skip that message, and every later one, for good (the
process stays alive and says nothing). A length longer than the body swallows the next message and then
waits forever; an absurd length makes it allocate that much.

`FrameParser` is a pure, incremental parser (bytes in, events out) so that property tests can drive it
directly; `serve_bodies` runs it over stdin or a TCP stream. What it accepts:
- header names in any case, any spaces around the colon, CRLF or LF line ends, any other headers
  (Content-Type) in any order; blank lines between messages;
- where the framing is lost, it resynchronises on the next `Content-Length` header, wherever it starts,
  and says so once per lost stretch:
  - bytes that are no header (garbage, or the rest of a body whose length was understated) are skipped;
  - a body that runs into the next header (its length was overstated) ends where that header starts: a
    valid JSON body can never hold a raw `Content-Length: N` line (JSON strings cannot hold raw line breaks,
    and the words are no JSON token), so the split never cuts a well-framed message;
  - a body that stops arriving while what came is already a complete JSON value is taken as it is
    (`take_stalled`), so a client that overstated the length and waits for the answer gets one;
  - nothing is allocated ahead of the bytes: an absurd length costs only what actually arrives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

# A header line: a token (RFC 9110 tchar), optional spaces, a colon, the value. The line end is removed before.
HEADER = re.compile(rb"[ \t]*([!#$%&'*+.^_`|~0-9A-Za-z-]+)[ \t]*:[ \t]*(.*?)[ \t]*")
# Where a Content-Length header starts in a line of stray bytes, or inside a body that ran into the next message.
LENGTH_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*\r?\n", re.IGNORECASE)
# A header line longer than this without a line end is no header: drop it (keeping a possible header start).
MAX_HEADER_LINE = 8192
# Seconds without new bytes after which a body shorter than its declared length is looked at (take_stalled).
STALL_SECONDS = 0.5
READ_SIZE = 1 << 16


HEADER_NAME = b"content-length"
HEADER_REST = re.compile(rb"[ \t]*(?::[ \t]*\d*[ \t]*\r?)?")


def could_start_header(tail: bytes) -> bool:
    """True when `tail` is the start of a `Content-Length: N` line (any case) cut before its line end."""
    lower = tail.lower()
    if len(lower) <= len(HEADER_NAME):
        return HEADER_NAME.startswith(lower)
    return lower.startswith(HEADER_NAME) and HEADER_REST.fullmatch(lower[len(HEADER_NAME) :]) is not None


@dataclass(frozen=True)
class Body:
    """One message body, as the framing delimits it (not yet decoded)."""

    data: bytes


@dataclass(frozen=True)
class Lost:
    """The framing was lost and recovered: one log line."""

    reason: str


class FrameParser:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._length: int | None = None  # Content-Length of the header block being read
        self._headers = 0  # header lines read in that block
        self._body_length: int | None = None  # set once the headers ended: reading a body of this length
        self._scanned = 0  # body bytes already searched for the next header
        self._lost = False  # inside a stretch of skipped bytes (reported once)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    @property
    def reading_body(self) -> bool:
        return self._body_length is not None

    def events(self) -> list[Body | Lost]:
        """Every event the bytes fed so far complete."""
        found: list[Body | Lost] = []
        while True:
            progressed = self._step(found)
            if not progressed:
                return found

    def take_stalled(self) -> list[Body | Lost]:
        """The body being read, when no more bytes come and what came is a complete JSON value (or all its
        declared bytes came and it only looked as if a header might follow)."""
        if self._body_length is None or not self._buffer.strip():
            return []
        if len(self._buffer) >= self._body_length:
            data = bytes(self._buffer[: self._body_length])
            del self._buffer[: self._body_length]
            self._end_body()
            return [Body(data)]
        try:
            json.loads(bytes(self._buffer).decode("utf-8"))
        except ValueError:
            return []
        data = bytes(self._buffer)
        self._buffer.clear()
        self._end_body()
        return [Lost("Content-Length was longer than the body; took the complete JSON that came"), Body(data)]

    # -- the state machine: each step consumes bytes and may add an event; False when it needs more bytes ----
    def _step(self, found: list) -> bool:
        if self._body_length is not None:
            return self._body_step(found)
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > MAX_HEADER_LINE:
                self._skip(len(self._buffer) - 64, "a line too long to be a header", found)
                return True
            return False
        line = bytes(self._buffer[: end + 1])
        content = line.rstrip(b"\r\n")
        if not content.strip():
            del self._buffer[: end + 1]
            if self._headers and self._length is None:
                self._reset_headers()
                self._report("a header block without Content-Length", found)
            elif self._headers:
                self._body_length, self._scanned = self._length, 0
                self._reset_headers()
            return True  # (a blank line between messages is harmless)
        header = HEADER.fullmatch(content)
        length_at = LENGTH_HEADER.search(line)
        if length_at is not None and length_at.start() > 0:
            # Stray bytes, then a Content-Length header on the same line (the rest of an understated body).
            self._skip(length_at.start(), "bytes that are not a header", found)
            return True
        if header is None:
            self._skip(end + 1, "bytes that are not a header", found)
            return True
        del self._buffer[: end + 1]
        name, value = header.group(1).lower(), header.group(2)
        if name == b"content-length" and not value.isdigit():
            self._reset_headers()
            self._report("a Content-Length that is not a number", found)
            return True
        if name == b"content-length":
            self._length = int(value)
            self._lost = False
        self._headers += 1
        return True

    def _body_step(self, found: list) -> bool:
        length = self._body_length
        # The next header inside the body means the length was overstated: the body ends where it starts.
        start = max(0, self._scanned - 64)
        header = LENGTH_HEADER.search(self._buffer, start, min(len(self._buffer), length + 64))
        self._scanned = min(len(self._buffer), length)
        if header is not None and header.start() < length:
            data = bytes(self._buffer[: header.start()])
            del self._buffer[: header.start()]
            self._end_body()
            found.append(Lost("Content-Length was longer than the body; it ends where the next header starts"))
            if data.strip():
                found.append(Body(data))
            return True
        if len(self._buffer) < length or self._header_may_start_in_body(length):
            return False
        found.append(Body(bytes(self._buffer[:length])))
        del self._buffer[:length]
        self._end_body()
        return True

    def _header_may_start_in_body(self, length: int) -> bool:
        """True while the declared body ends in what may be the start of the next header, its line not
        complete yet: wait for it (or for the stream to stall). A JSON object never ends in a letter."""
        tail_start = max(0, len(self._buffer) - 40)
        for at in range(tail_start, length):
            if self._buffer[at] in b"cC" and could_start_header(bytes(self._buffer[at:])):
                return True
        return False

    def _skip(self, count: int, why: str, found: list) -> None:
        del self._buffer[:count]
        self._reset_headers()
        self._report(why, found)

    def _report(self, why: str, found: list) -> None:
        if not self._lost:
            self._lost = True
            found.append(Lost(why + "; skipped to the next Content-Length header"))

    def _reset_headers(self) -> None:
        self._length, self._headers = None, 0

    def _end_body(self) -> None:
        self._body_length, self._scanned = None, 0


# -- running it over a stream --------------------------------------------------------------------------------
async def serve_bodies(
    next_chunk: Callable[[], Awaitable[bytes]], on_body: Callable[[bytes], None], stop: threading.Event
) -> None:
    """Read chunks until the stream ends (b"") or `stop` is set; hand each body to `on_body` in order."""
    parser = FrameParser()
    pending: asyncio.Future | None = None
    looked_at_stall = False
    while not stop.is_set():
        if pending is None:
            pending = asyncio.ensure_future(next_chunk())
        wait = STALL_SECONDS if parser.reading_body and not looked_at_stall else None
        done, _ = await asyncio.wait({pending}, timeout=wait)
        if not done:
            events, looked_at_stall = parser.take_stalled(), True
        else:
            chunk, pending, looked_at_stall = pending.result(), None, False
            if not chunk:
                return
            parser.feed(chunk)
            events = parser.events()
        for event in events:
            if isinstance(event, Lost):
                log.warning("framing: %s", event.reason)
            else:
                try:
                    on_body(event.data)
                except Exception as error:  # a bug of ours must not stop the reading: the server would go deaf
                    log.error("handling a message failed: %s", type(error).__name__)
                    log.debug("the failure", exc_info=error)


def stdin_chunks(stream) -> Callable[[], Awaitable[bytes]]:
    """Chunks of `stream` (as soon as any bytes are there) read on a daemon thread, which never holds up the
    process's exit (pygls read on its thread pool, which the interpreter joins at exit). The file descriptor
    is read directly: a daemon thread blocked inside a BufferedReader holds its lock, and the interpreter
    aborts at exit when it finds that lock taken."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[bytes] = asyncio.Queue()
    try:
        fd = stream.fileno()
        read = lambda size: os.read(fd, size)  # noqa: E731
    except (AttributeError, OSError, ValueError):  # an in-memory stream (tests)
        read = getattr(stream, "read1", stream.read)

    def pump() -> None:
        while True:
            try:
                chunk = read(READ_SIZE)
            except (OSError, ValueError):
                chunk = b""
            try:
                loop.call_soon_threadsafe(chunks.put_nowait, chunk)
            except RuntimeError:  # the loop is closed: the server is gone
                return
            if not chunk:
                return

    threading.Thread(target=pump, name="codegen-stdin", daemon=True).start()
    return chunks.get
