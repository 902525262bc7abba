"""Which files of the workspace may be read: inside a workspace folder (symlinks resolved, none escaping), not
ignored by .gitignore, not generated or vendored, not a secret, and within the size and count caps.

`pathspec` matches .gitignore patterns as git does (negations, `**`, directory-only patterns): the same
library black and mypy use for this, instead of a hand-written approximation.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pathspec

from ..languages import language_for_path
from .definitions import TREE_SITTER_GRAMMARS

log = logging.getLogger(__name__)

# Folders no one edits by hand: dependencies, build output, caches, virtual environments.
SKIPPED_FOLDERS = frozenset(
    ".git .hg .svn node_modules bower_components __pycache__ .venv venv env .env .tox .nox .mypy_cache "
    ".pytest_cache .ruff_cache .cache build dist out target vendor third_party site-packages .eggs .next "
    ".nuxt coverage .idea .vscode .gradle".split()
)
# Files that may hold credentials: never opened, whatever their extension.
SECRET_PATTERNS = (
    ".env", ".env.*", "*.env", "*.pem", "*.key", "*.p12", "*.pfx", "*.jks", "*.keystore", "id_rsa*", "id_dsa*",
    "id_ecdsa*", "id_ed25519*", ".netrc", ".npmrc", ".pypirc", "*credential*", "*secret*", ".htpasswd",
)
INDEXED_LANGUAGES = frozenset({"python", *TREE_SITTER_GRAMMARS})


@dataclass(frozen=True)
class Limits:
    max_files: int = 20_000  # files indexed in all (a 5,000-file repository takes ~s; see docs/context.md)
    max_file_bytes: int = 512 * 1024  # larger sources are generated (bundles, tables), not read


def is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(fnmatch.fnmatchcase(lowered, pattern) for pattern in SECRET_PATTERNS)


def indexed_language(path: str) -> str | None:
    """The language id of a file the index reads (by its extension), None for any other file."""
    found = language_for_path(path)
    return found.id if found is not None and found.id in INDEXED_LANGUAGES else None


class Bounds:
    """The workspace folders and what inside them may be read."""

    def __init__(self, roots: list[str], limits: Limits = Limits()) -> None:
        self.roots = [os.path.realpath(root) for root in roots if os.path.isdir(root)]
        self.limits = limits
        self._ignores: dict[str, pathspec.GitIgnoreSpec | None] = {}

    def root_of(self, path: str) -> str | None:
        """The workspace folder holding `path` once its symlinks are resolved; None when it lies outside."""
        real = os.path.realpath(path)
        for root in self.roots:
            if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
                return root
        return None

    def admits(self, path: str) -> bool:
        """`path` may be read: an indexed language, inside a workspace folder, not ignored, not a secret."""
        if indexed_language(path) is None or is_secret(os.path.basename(path)):
            return False
        root = self.root_of(path)
        if root is None:
            return False
        real = os.path.realpath(path)
        parts = Path(os.path.relpath(real, root)).parts
        if any(part in SKIPPED_FOLDERS or part.endswith(".egg-info") for part in parts[:-1]):
            return False
        return not self._ignored(root, parts)

    def read(self, path: str) -> str | None:
        """The text of an admitted file within the size cap; None otherwise (or when it cannot be read)."""
        if not self.admits(path):
            return None
        try:
            real = os.path.realpath(path)
            if os.path.getsize(real) > self.limits.max_file_bytes:
                return None
            with open(real, "rb") as file:
                data = file.read(self.limits.max_file_bytes + 1)
        except OSError:
            return None
        if b"\0" in data[:4096]:
            return None  # binary
        return data.decode("utf-8", "replace")

    def walk(self) -> Iterator[str]:
        """The admitted files of every workspace folder, at most max_files of them. Symlinked folders are not
        followed (a link inside the workspace to a folder inside it is indexed where it really lies)."""
        count = 0
        for root in self.roots:
            for folder, dirs, files in os.walk(root, followlinks=False):
                rel = os.path.relpath(folder, root)
                parts = () if rel == "." else Path(rel).parts
                dirs[:] = sorted(
                    d for d in dirs
                    if d not in SKIPPED_FOLDERS and not d.endswith(".egg-info")
                    and not os.path.exists(os.path.join(folder, d, "pyvenv.cfg"))
                    and not self._ignored(root, (*parts, d), folder=True)
                )
                for name in sorted(files):
                    path = os.path.join(folder, name)
                    if indexed_language(name) is None or is_secret(name):
                        continue
                    if os.path.islink(path) and self.root_of(path) is None:
                        continue  # a link out of the workspace
                    if self._ignored(root, (*parts, name)) or _size(path) > self.limits.max_file_bytes:
                        continue
                    count += 1
                    if count > self.limits.max_files:
                        log.warning("workspace index: more than %d files; the rest is not indexed", self.limits.max_files)
                        return
                    yield path

    def _ignored(self, root: str, parts: tuple[str, ...], folder: bool = False) -> bool:
        """Ignored by the .gitignore of the root or of any folder on the way (each matches paths below it)."""
        for depth in range(len(parts)):
            base = os.path.join(root, *parts[:depth])
            spec = self._ignore_spec(base)
            if spec is None:
                continue
            rel = "/".join(parts[depth:]) + ("/" if folder else "")
            if spec.match_file(rel):
                return True
        return False

    def _ignore_spec(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder not in self._ignores:
            try:
                with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as file:
                    self._ignores[folder] = pathspec.GitIgnoreSpec.from_lines(file.read().splitlines())
            except OSError:
                self._ignores[folder] = None
        return self._ignores[folder]

    def forget_ignores(self) -> None:
        """A .gitignore changed: read them again."""
        self._ignores.clear()


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
