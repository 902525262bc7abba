"""The open documents, kept exactly as the editor has them.

pygls' own TextDocument gets three things wrong for a server that must never lose the text:
- its lines come from `str.splitlines`, which also breaks at \\x0b \\x0c \\x1c-\\x1e \\x85 \\u2028 \\u2029; LSP knows only
  \\n, \\r\\n and \\r, so an edit on a line after such a character lands in the wrong place;
- a character past the end of the last line is clamped to one before its end (and written back into the
  Position it was given), so the edit lands inside the line;
- an unopened URI is read from disk;
- documents are keyed by the unquoted URI, so `x%2Fy.py` and `x/y.py` were one document (see uris.py).

`Document` and `DocumentWorkspace` fix those at the root and plug into pygls where it creates documents.
Positions follow the spec: a character past the end of a line means the end of that line, a line past the
end of the document means its end. A position inside a character (half a UTF-16 surrogate pair, a partial
UTF-8 sequence) means the end of that character. Such edits are applied as clamped and logged; an edit whose
start lies after its end is applied to the range between them; an edit whose version does not increase is
applied too (the stream keeps edits in order, so the text stays what the editor has) and logged.
"""

from __future__ import annotations

import copy
import itertools
import logging
import re
from typing import Any
from lsprotocol import types
from pygls.workspace import TextDocument, Workspace

from .uris import uri_key

log = logging.getLogger(__name__)

LINE_BREAK = re.compile(r"\r\n|\r|\n")
UNITS_PER_CHAR = {
    types.PositionEncodingKind.Utf8: lambda c: len(c.encode("utf-8", "surrogatepass")),
    types.PositionEncodingKind.Utf16: lambda c: 2 if ord(c) > 0xFFFF else 1,
    types.PositionEncodingKind.Utf32: lambda c: 1,
}


def split_lines(text: str) -> list[str]:
    """Lines with their line breaks, split only where LSP splits (\\n, \\r\\n, \\r). "" has no lines."""
    lines, start = [], 0
    for match in LINE_BREAK.finditer(text):
        lines.append(text[start : match.end()])
        start = match.end()
    if start < len(text):
        lines.append(text[start:])
    return lines


def line_starts(text: str) -> list[int]:
    """Offset where each LSP line starts; the empty line after a final line break counts."""
    return [0] + [match.end() for match in LINE_BREAK.finditer(text)]


def column_of(content: str, units: int, encoding: str) -> tuple[int, bool]:
    """Code points before `units` code units of `content` (one line, no line break); True when clamped."""
    if content.isascii() or encoding == types.PositionEncodingKind.Utf32:
        return min(units, len(content)), units > len(content)
    width = UNITS_PER_CHAR.get(encoding, UNITS_PER_CHAR[types.PositionEncodingKind.Utf16])
    seen = 0
    for index, char in enumerate(content):
        if seen >= units:
            return index, False
        seen += width(char)
    return len(content), units > seen


def offset_at(text: str, position: types.Position, encoding: str, starts: list[int] | None = None) -> tuple[int, bool]:
    """Offset in code points of an LSP position, clamped as the spec says; True when it had to be clamped."""
    starts = starts if starts is not None else line_starts(text)
    if position.line >= len(starts):
        return len(text), True
    start = starts[position.line]
    end = starts[position.line + 1] if position.line + 1 < len(starts) else len(text)
    content = text[start:end].rstrip("\r\n")
    column, clamped = column_of(content, position.character, encoding)
    return start + column, clamped


def apply_change(
    text: str, start: types.Position, end: types.Position, new_text: str, encoding: str
) -> tuple[str, list[str]]:
    """Text after replacing the range with `new_text`, and what had to be corrected (empty when nothing)."""
    starts = line_starts(text)
    begin, begin_clamped = offset_at(text, start, encoding, starts)
    finish, finish_clamped = offset_at(text, end, encoding, starts)
    problems = []
    if begin_clamped or finish_clamped:
        problems.append(f"range {_show(start)}-{_show(end)} reaches past the text; clamped to its end")
    if finish < begin:
        problems.append(f"range {_show(start)}-{_show(end)} ends before it starts; its ends were swapped")
        begin, finish = finish, begin
    return text[:begin] + new_text + text[finish:], problems


def _show(position: types.Position) -> str:
    return f"{position.line}:{position.character}"


class LineTable:
    """A document's text as its LSP lines (each with its line break), so that an edit costs what it touches:
    the lines it spans (and one on each side, where a \r and a \n may join into one break) are split again and
    spliced into the list, whatever the document's size. The whole text and the line-start offsets are built
    when asked (a completion asks once) and kept until the next edit. Rebuilding every line start and the
    whole text on each keystroke made one edit of an 18 MB document cost about as much as reading it.

    Positions mean what `offset_at` says they mean (tests/test_documents_property.py checks the two agree)."""

    def __init__(self, text: str) -> None:
        self.lines = split_lines(text)
        self._text: str | None = text
        self._starts: list[int] | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = "".join(self.lines)
        return self._text

    def starts(self) -> list[int]:
        """Offset of each line's start, and the text's length last."""
        if self._starts is None:
            self._starts = [0, *itertools.accumulate(map(len, self.lines))]
        return self._starts

    def _ends_open(self) -> bool:
        """True when the last line has no line break (no empty line follows it)."""
        return bool(self.lines) and not self.lines[-1].endswith(("\n", "\r"))

    def locate(self, position: types.Position, encoding: str) -> tuple[int, int, bool]:
        """(line index, column in code points, clamped) of an LSP position; index len(lines) is the empty line
        after a final line break (or the only line of an empty text)."""
        count = len(self.lines)
        if position.line >= count + (0 if self._ends_open() else 1):  # past the end: the end of the text
            return (count - 1, len(self.lines[-1]), True) if self._ends_open() else (count, 0, True)
        content = self.lines[position.line].rstrip("\r\n") if position.line < count else ""
        column, clamped = column_of(content, position.character, encoding)
        return position.line, column, clamped

    def offset(self, position: types.Position, encoding: str) -> tuple[int, bool]:
        line, column, clamped = self.locate(position, encoding)
        return self.starts()[line] + column, clamped

    def replace(self, start: types.Position, end: types.Position, new_text: str, encoding: str) -> list[str]:
        """Replace the range with `new_text`; what had to be corrected (as apply_change says it)."""
        first_line, first_column, start_clamped = self.locate(start, encoding)
        last_line, last_column, end_clamped = self.locate(end, encoding)
        problems = []
        if start_clamped or end_clamped:
            problems.append(f"range {_show(start)}-{_show(end)} reaches past the text; clamped to its end")
        if (last_line, last_column) < (first_line, first_column):
            problems.append(f"range {_show(start)}-{_show(end)} ends before it starts; its ends were swapped")
            first_line, first_column, last_line, last_column = last_line, last_column, first_line, first_column
        lines, count = self.lines, len(self.lines)
        # One line more on each side: a \r before the edit and a \n after it (or the reverse) become one break.
        above, below = max(first_line - 1, 0), min(last_line + 1, count - 1)
        head = "".join(lines[above:first_line]) + (lines[first_line][:first_column] if first_line < count else "")
        tail = (lines[last_line][last_column:] if last_line < count else "") + "".join(lines[last_line + 1 : below + 1])
        lines[above : below + 1] = split_lines(head + new_text + tail)
        self._text = self._starts = None
        return problems


class Document(TextDocument):
    """A TextDocument with LSP line breaks, spec clamping, no reading from disk, and edits that cost what they
    touch (LineTable)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._table = LineTable(self._source or "")
        self._source = None  # the table holds the text

    @property
    def encoding(self) -> str:
        return self.position_codec.encoding or types.PositionEncodingKind.Utf16

    @property
    def source(self) -> str:
        return self._table.text

    @property
    def lines(self) -> list[str]:
        return self._table.lines

    def offset_at_position(self, client_position: types.Position) -> int:
        return self._table.offset(client_position, self.encoding)[0]

    def _apply_incremental_change(self, change: types.TextDocumentContentChangePartial) -> None:
        problems = self._table.replace(change.range.start, change.range.end, change.text, self.encoding)
        for problem in problems:
            log.warning("didChange for %s: %s", self.uri, problem)

    def _apply_full_change(self, change: types.TextDocumentContentChangeWholeDocument) -> None:
        self._table = LineTable(change.text)


class DocumentWorkspace(Workspace):
    """pygls' Workspace holding `Document`s; edits to documents that are not open are ignored, with a log line."""

    @classmethod
    def like(cls, workspace: Workspace) -> "DocumentWorkspace":
        """A DocumentWorkspace set up as pygls set up `workspace` (root, sync kind, folders, encoding)."""
        return cls(
            workspace.root_uri,
            workspace._sync_kind,
            list(workspace.folders.values()),
            workspace.position_encoding,
        )

    def _create_text_document(self, doc_uri, source=None, version=None, language_id=None) -> Document:
        return Document(
            doc_uri,
            source=source,
            version=version,
            language_id=language_id,
            sync_kind=self._sync_kind,
            position_codec=self.position_codec,
        )

    def open_document(self, doc_uri: str) -> Document | None:
        """The open document at this URI (or at one RFC 3986 calls the same), or None."""
        return self._text_documents.get(uri_key(doc_uri))

    def get_text_document(self, doc_uri: str) -> Document:
        """The open document, or an empty one: never the file on disk (only the protocol says what is in it)."""
        document = self.open_document(doc_uri)
        if document is None:
            log.info("asked for a document that is not open: %s", doc_uri)
            return self._create_text_document(doc_uri, source="")
        return document

    def put_text_document(self, text_document: types.TextDocumentItem, notebook_uri: str | None = None) -> None:
        key = uri_key(text_document.uri)
        self._text_documents[key] = self._create_text_document(
            text_document.uri,
            source=text_document.text,
            version=text_document.version,
            language_id=text_document.language_id,
        )
        if notebook_uri:
            self._cell_in_notebook[key] = uri_key(notebook_uri)

    def remove_text_document(self, doc_uri: str) -> None:
        key = uri_key(doc_uri)
        if self._text_documents.pop(key, None) is None:
            log.info("didClose for %s, which is not open: ignored", doc_uri)
        self._cell_in_notebook.pop(key, None)

    def update_text_document(self, text_doc: types.VersionedTextDocumentIdentifier, change) -> None:
        document = self.open_document(text_doc.uri)
        if document is None:
            log.warning("didChange for %s, which is not open: ignored", text_doc.uri)
            return
        if document.version is not None and text_doc.version is not None and text_doc.version <= document.version:
            log.warning(
                "didChange for %s goes from version %s to %s; applied anyway (edits arrive in order)",
                text_doc.uri,
                document.version,
                text_doc.version,
            )
        document.apply_change(change)
        document.version = text_doc.version

    # -- notebooks: not advertised (no notebookDocumentSync), but a client may send them; never an error --------
    def get_notebook_document(self, *, notebook_uri: str | None = None, cell_uri: str | None = None):
        if notebook_uri is not None:
            return self._notebook_documents.get(uri_key(notebook_uri))
        if cell_uri is not None:
            key = self._cell_in_notebook.get(uri_key(cell_uri))
            return self._notebook_documents.get(key) if key is not None else None
        return None

    def put_notebook_document(self, params: types.DidOpenNotebookDocumentParams) -> None:
        notebook = params.notebook_document
        self._notebook_documents[uri_key(notebook.uri)] = copy.deepcopy(notebook)
        for cell in params.cell_text_documents:
            self.put_text_document(cell, notebook_uri=notebook.uri)

    def remove_notebook_document(self, params: types.DidCloseNotebookDocumentParams) -> None:
        if self._notebook_documents.pop(uri_key(params.notebook_document.uri), None) is None:
            log.info("notebookDocument/didClose for a notebook that is not open: ignored")
        for cell in params.cell_text_documents:
            self.remove_text_document(cell.uri)

    def update_notebook_document(self, params: types.DidChangeNotebookDocumentParams) -> None:
        """pygls' update, by our keys; a notebook that is not open is ignored (pygls raised KeyError, and the
        user saw a popup per message)."""
        notebook = self._notebook_documents.get(uri_key(params.notebook_document.uri))
        if notebook is None:
            log.warning("notebookDocument/didChange for a notebook that is not open: ignored")
            return
        notebook.version = params.notebook_document.version
        if params.change.metadata:
            notebook.metadata = params.change.metadata
        cells = params.change.cells
        if cells is None:
            return
        by_uri = {uri_key(cell.document): cell for cell in notebook.cells}
        for data in cells.data or []:
            cell = by_uri.get(uri_key(data.document))
            if cell is not None:
                cell.kind, cell.metadata, cell.execution_summary = data.kind, data.metadata, data.execution_summary
        if cells.structure:
            array = cells.structure.array
            notebook.cells = [
                *notebook.cells[: array.start], *(array.cells or []), *notebook.cells[array.start + array.delete_count :]
            ]
            for opened in cells.structure.did_open or []:
                self.put_text_document(opened, notebook_uri=params.notebook_document.uri)
            for closed in cells.structure.did_close or []:
                self.remove_text_document(closed.uri)
        for text in cells.text_content or []:
            for change in text.changes:
                self.update_text_document(text.document, change)
