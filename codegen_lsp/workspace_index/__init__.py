"""The project's definitions, indexed in the background, and the retrieval that puts the ones the cursor needs
into the prompt (see docs/context.md)."""

from .definitions import Definition, Kind, definitions_of
from .files import Bounds, Limits
from .index import FileEntry, WorkspaceIndex
from .retrieval import RecentEdits, Retrieved, retrieve

__all__ = [
    "Bounds", "Definition", "FileEntry", "Kind", "Limits", "RecentEdits", "Retrieved", "WorkspaceIndex",
    "definitions_of", "retrieve",
]
