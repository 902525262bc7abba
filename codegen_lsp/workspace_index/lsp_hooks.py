"""The LSP side of the workspace index, kept out of server.py: the workspace folders, the index built with
$/progress, the file watcher registered when the client can take one, and the file events as paths."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Awaitable, Callable

from lsprotocol import types

from ..context import uri_path
from .service import WATCHED_GLOBS, ProjectContext

log = logging.getLogger(__name__)


def workspace_roots(server) -> list[str]:
    """The workspace folders' paths (or the root the client named), file URIs only."""
    folders = [f.uri for f in server.workspace.folders.values()]
    if not folders and server.workspace.root_uri:
        folders = [server.workspace.root_uri]
    return [uri_path(uri) for uri in folders if uri.startswith("file:")]


def start_indexing(server, project: ProjectContext, start_progress: Callable[[str, str], Awaitable[bool]]) -> None:
    """Once per session: the index built in the background, and the file watcher asked for."""
    if project.requested:
        return
    project.requested = True
    asyncio.ensure_future(index_workspace(server, project, start_progress))
    register_file_watcher(server)


async def index_workspace(server, project: ProjectContext, start_progress: Callable[[str, str], Awaitable[bool]]) -> None:
    """Build the index on its worker thread, reporting $/progress when the client takes it."""
    roots = workspace_roots(server)
    if not roots:
        return
    token = str(uuid.uuid4())
    progress = await start_progress(token, "indexing the workspace")
    loop = asyncio.get_running_loop()

    def report(message: str, percentage: int | None) -> None:
        if progress:
            value = types.WorkDoneProgressReport(message=message, percentage=percentage)
            loop.call_soon_threadsafe(server.work_done_progress.report, token, value)

    future = project.start(roots, report)
    if future is None:
        return
    try:
        await asyncio.wrap_future(future)
    finally:
        if progress:
            size = project.stats()
            message = f"{size['files']} files, {size['definitions']} definitions"
            server.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))


def register_file_watcher(server) -> None:
    """Ask the client to tell us about files changed on disk (a checkout, a generator, another editor)."""
    workspace = server.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=glob) for glob in WATCHED_GLOBS]
    )
    registration = types.Registration(
        id=str(uuid.uuid4()), method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
    )
    server.client_register_capability(types.RegistrationParams(registrations=[registration]), _registered)


def _registered(*args) -> None:
    log.debug("file watcher registered")


def watched_changes(params: types.DidChangeWatchedFilesParams) -> list[tuple[str, bool]]:
    return [(uri_path(c.uri), c.type == types.FileChangeType.Deleted) for c in params.changes if c.uri.startswith("file:")]


def edit_of(server, params: types.DidChangeTextDocumentParams) -> tuple[str, str, int, Callable[[], str | None]]:
    """(path, language id, first changed line, the document's text later) of a didChange."""
    uri = params.text_document.uri
    document = server.workspace.open_document(uri)
    first = params.content_changes[0] if params.content_changes else None
    line = first.range.start.line if first is not None and getattr(first, "range", None) is not None else 0
    language_id = document.language_id if document is not None else ""
    return uri_path(uri), language_id or "", line, lambda: server.text_of(uri)
