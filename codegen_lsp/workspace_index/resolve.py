"""What the code before the cursor refers to, found in the workspace index: the module or object before a `.`,
the module of `from X import ¦` / `import {¦} from './x'`, a Go package, the imported names the current scope
uses. One resolver per language; a language without one gets nothing (and keeps the word-overlap snippets).

Everything is read from the text of the current scope (the enclosing definition, up to the cursor) and the file's
imports, so the targets change only when a new reference is typed, not on every keystroke.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, replace
from enum import StrEnum

from .definitions import Definition, Kind
from .index import FileEntry, WorkspaceIndex, python_module

IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
CHAIN = re.compile(r"(?<![\w$.])([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*)(\s*\.)?")
SCOPE_MAX_LINES = 64  # a scope longer than this starts on a 32-line grid (stable while typing inside it)
SCOPE_GRID = 32
IMPORT_HEAD_CHARS = 30_000
CLASS_LOOKBACK_LINES = 3000  # imports are read from the file's start (and from the scope)


class TargetKind(StrEnum):
    MODULE = "module"  # outline of a module (Python), a file (JS/TS) or a package (Go)
    CLASS = "class"  # a class's signature and its members' signatures
    DEFINITION = "definition"  # a definition's header and the start of its body


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    key: str  # what it is, for de-duplication (a path, or path:line)
    reason: str  # why it was chosen, for the prompt trace
    position: int  # where in the scope text the reference was last seen (later: nearer the cursor)
    first: int = 0  # where the first reference is (the order the blocks are shown in)
    files: tuple[FileEntry, ...] = ()  # MODULE
    definition: Definition | None = None  # CLASS, DEFINITION
    members: tuple[Definition, ...] = ()  # CLASS: its methods


# -- the scope ----------------------------------------------------------------------------------------------
SCOPE_HEADERS = {
    "python": re.compile(r"^[ \t]*(?:async[ \t]+def|def|class)\b", re.MULTILINE),
    "go": re.compile(r"^(?:func|type)\b", re.MULTILINE),
    "javascript": re.compile(
        r"^[ \t]*(?:export[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?(?:function|class)\b|^\S.*=>\s*\{\s*$", re.MULTILINE
    ),
}


def scope_start(lines: list[str], language: str) -> int:
    """The line the cursor's scope starts on: the nearest definition header above it within SCOPE_MAX_LINES,
    else a grid line (so that the scope moves in steps, not with every new line)."""
    header = SCOPE_HEADERS.get("javascript" if language in JS_LANGUAGES else language)
    cursor = len(lines) - 1
    if header is not None:
        for line in range(cursor, max(-1, cursor - SCOPE_MAX_LINES), -1):
            if header.match(lines[line]):
                return line
    return max(0, (cursor - SCOPE_MAX_LINES) // SCOPE_GRID * SCOPE_GRID + SCOPE_GRID) if cursor >= SCOPE_MAX_LINES else 0


def import_head(prefix: str, language: str) -> str:
    """The file's start up to its first definition: where its imports are (and, while the user types below it,
    the same text on every keystroke, so its imports are read once)."""
    header = SCOPE_HEADERS.get("javascript" if language in JS_LANGUAGES else language)
    first = header.search(prefix, 0, IMPORT_HEAD_CHARS) if header is not None else None
    return prefix[: first.start() if first else IMPORT_HEAD_CHARS]


# -- the resolvers ------------------------------------------------------------------------------------------
JS_LANGUAGES = {"javascript", "javascriptreact", "typescript", "typescriptreact"}


def targets_for(index: WorkspaceIndex, prefix: str, line_suffix: str, path: str, language: str) -> list[Target]:
    """The definitions the code before the cursor refers to, each once (the last reference's position kept)."""
    lines = prefix.split("\n")
    scope = "\n".join(lines[scope_start(lines, language) :])
    head = import_head(prefix, language)
    if language == "python":
        resolver = PythonResolver(index, path, head, scope)
    elif language in JS_LANGUAGES:
        resolver = JavaScriptResolver(index, path, head, scope)
    elif language == "go":
        resolver = GoResolver(index, path, head)
    else:
        return []
    resolver.lines = lines
    found: dict[str, Target] = {}
    for target in resolver.targets(scope, lines[-1] + line_suffix, len(lines) - 1):
        first = found[target.key].first if target.key in found else target.position
        found[target.key] = replace(target, first=first)  # the last reference's position, the first one's order
    return list(found.values())


class Resolver:
    """Shared steps: a chain of names (`frame.symbols`) from a first thing to what each `.name` leads to."""

    self_names: tuple[str, ...] = ()
    class_header = re.compile(r"^([ \t]*)(?:export\s+)?(?:default\s+)?(?:abstract\s+)?class\s+([\w$]+)")

    def __init__(self, index: WorkspaceIndex, path: str) -> None:
        self.index = index
        self.path = os.path.realpath(path)
        self.entry = index.entry(path)
        self.lines: list[str] = []  # the document up to the cursor's line
        self._enclosing: tuple[Definition | None] | None = None
        self._chains: dict[tuple[str, ...], Target | None] = {}

    def targets(self, scope: str, line: str, cursor_line: int) -> list[Target]:
        raise NotImplementedError

    def chain_targets(self, scope: str, cursor_line: int) -> list[Target]:
        """`a.b.¦` and `a.b.c(`: the object the last `.` is taken from, resolved step by step."""
        found = []
        for match in CHAIN.finditer(scope):
            names = [n.strip() for n in match.group(1).split(".")]
            receiver = names if match.group(2) else names[:-1]
            if not receiver:
                continue
            key = tuple(receiver)
            if key not in self._chains:  # `self.writeline(` forty times: resolved once
                self._chains[key] = self.resolve_chain(receiver, 0, cursor_line)
            target = self._chains[key]
            if target is not None:
                found.append(replace(target, position=match.start()))
        return found

    def resolve_chain(self, names: list[str], position: int, cursor_line: int) -> Target | None:
        thing = self.first(names[0], cursor_line)
        for name in names[1:]:
            if thing is None:
                return None
            thing = self.step(thing, name)
        if thing is None:
            return None
        shown = ".".join(names)
        if isinstance(thing, tuple):  # files: a module or package
            return Target(TargetKind.MODULE, "module:" + thing[0].path, f"{shown}. is {_name_of(thing)}", position, files=thing)
        if thing.kind in (Kind.CLASS, Kind.INTERFACE):
            return Target(TargetKind.CLASS, f"{thing.path}:{thing.start_line}", f"{shown}. is {thing.kind} {thing.name}",
                          position, definition=thing, members=tuple(self.class_members(thing)))
        return Target(TargetKind.DEFINITION, f"{thing.path}:{thing.start_line}", f"{shown}. is {thing.kind} {thing.name}",
                      position, definition=thing)

    def first(self, name: str, cursor_line: int):
        if name in self.self_names:
            return self.enclosing_class(cursor_line)
        return self.bound(name) or self.class_like(name)

    def class_like(self, name: str) -> Definition | None:
        """The class a variable's name spells when nothing says its type (`frame` a Frame, `symbols` Symbols):
        only a class of exactly that name, case and underscores aside, one of a kind in the workspace."""
        wanted = name.replace("_", "").lower()
        if len(wanted) < 4:
            return None
        spelled = name[:1].upper() + name[1:]
        candidates = [d for d in self.index.named(spelled) + self.index.named(name.title().replace("_", ""))
                      if d.kind in (Kind.CLASS, Kind.INTERFACE) and d.container is None and d.name.lower() == wanted]
        return candidates[0] if len({d.path for d in candidates}) == 1 else None

    def bound(self, name: str):
        return None

    def step(self, thing, name: str):
        """`.name` of a module (a submodule or a definition in it) or of a class (an attribute's type, a member)."""
        if isinstance(thing, tuple):
            return self.module_member(thing, name)
        if thing.kind in (Kind.CLASS, Kind.INTERFACE):
            kind = thing.attribute_type(name)
            if kind:
                return self.class_named(kind, near=thing.path)
            member = next((d for d in self.class_members(thing) if d.name == name), None)
            return member or self.class_like(name)
        return None

    def module_member(self, files: tuple[FileEntry, ...], name: str):
        return next((d for entry in files for d in entry.top_level() if d.name == name), None)

    def class_members(self, cls: Definition) -> list[Definition]:
        entry = self.index.entry(cls.path)
        return entry.members(cls.name) if entry is not None else []

    def class_named(self, name: str, near: str) -> Definition | None:
        """The class `name`: in the file `near`, else the nearest one by folder."""
        classes = [d for d in self.index.named(name) if d.kind in (Kind.CLASS, Kind.INTERFACE) and d.container is None]
        if not classes:
            return None
        return min(classes, key=lambda d: (d.path != near, _distance(d.path, near), d.path))

    def enclosing_class(self, cursor_line: int) -> Definition | None:
        """The class whose body the cursor is in: the nearest class header above it that is indented less than
        the cursor's line (the index may not have the newest lines of the document yet). Found once per cursor."""
        if self._enclosing is None:
            self._enclosing = (self._find_enclosing_class(),)
        return self._enclosing[0]

    def _find_enclosing_class(self) -> Definition | None:
        indent = len(self.lines[-1]) - len(self.lines[-1].lstrip()) if self.lines else 0
        for line in reversed(self.lines[-CLASS_LOOKBACK_LINES:-1]):
            if "class" not in line:
                continue
            found = self.class_header.match(line)
            if found and len(found.group(1)) < indent:
                return self.class_named(found.group(2), near=self.path)
        return None

    def named_definition(self, files: tuple[FileEntry, ...], name: str, position: int, why: str) -> Target | None:
        found = self.module_member(files, name)
        if found is None:
            return None
        return Target(TargetKind.DEFINITION, f"{found.path}:{found.start_line}", f"{why} {name}", position, definition=found)

    def module_target(self, files: tuple[FileEntry, ...], position: int, why: str) -> Target:
        return Target(TargetKind.MODULE, "module:" + files[0].path, f"{why} {_name_of(files)}", position, files=files)


def _name_of(files: tuple[FileEntry, ...]) -> str:
    entry = files[0]
    return entry.module or os.path.basename(entry.path if len(files) == 1 else os.path.dirname(entry.path))


def _distance(a: str, b: str) -> int:
    common = os.path.commonpath([a, b]) if os.path.isabs(a) == os.path.isabs(b) else ""
    return a.count(os.sep) + b.count(os.sep) - 2 * common.count(os.sep)


def _blank(match: re.Match) -> str:
    return " " * len(match.group(0))


def _used_names(scope: str) -> list[tuple[str, int]]:
    return [(m.group(0), m.start()) for m in IDENTIFIER.finditer(scope)]


# -- Python ---------------------------------------------------------------------------------------------------
PY_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)?|[^\n]*)", re.MULTILINE)
PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n]+)", re.MULTILINE)
PY_FROM_AT_CURSOR = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import\b")
PY_ANNOTATED = re.compile(r"\b(\w+)[ \t]*:[ \t]*(?:[\w.]+\[)?[\"']?([A-Za-z_][\w.]*)")
PY_ASSIGNED = re.compile(r"^[ \t]*(\w+)[ \t]*=[ \t]*([A-Z][\w.]*)\(", re.MULTILINE)


@functools.lru_cache(maxsize=32)
def python_imports(text: str) -> tuple[tuple[str, str, str | None], ...]:
    """(name bound, module as written, the name imported from it or None for the module itself)."""
    found = []
    for match in PY_IMPORT.finditer(text):
        for part in match.group(1).split("#")[0].split(","):
            words = part.split()
            if len(words) == 3 and words[1] == "as":
                found.append((words[2], words[0], None))
            elif words:
                found.append((words[0].split(".")[0], words[0].split(".")[0], None))
    for match in PY_FROM.finditer(text):
        for part in match.group(2).strip("()\n ").split("#")[0].replace("\n", ",").split(","):
            words = part.split()
            if words and words[0] != "*":
                found.append((words[2] if len(words) == 3 and words[1] == "as" else words[0], match.group(1), words[0]))
    return tuple(found)


class PythonResolver(Resolver):
    self_names = ("self", "cls")

    def __init__(self, index: WorkspaceIndex, path: str, head: str, scope: str) -> None:
        super().__init__(index, path)
        self.package = self._package()
        self.bindings: dict[str, tuple[str, str | None]] = {}  # name -> (module, name in it or None)
        for alias, module, member in python_imports(head) + python_imports(scope):
            self.bindings[alias] = (self.absolute(module) if member is not None else module, member)
        self.locals: dict[str, str] = {}

    def _package(self) -> str:
        module = python_module(self.path)
        is_package = os.path.basename(self.path) == "__init__.py"
        return module if is_package else module.rpartition(".")[0]

    def absolute(self, module: str) -> str:
        """`.utils` from inside jinja2/compiler.py is `jinja2.utils`."""
        dots = len(module) - len(module.lstrip("."))
        if not dots:
            return module
        parts = self.package.split(".") if self.package else []
        parts = parts[: len(parts) - (dots - 1)] if dots > 1 else parts
        rest = module[dots:]
        return ".".join([*parts, rest] if rest else parts)

    def module_files(self, dotted: str) -> tuple[FileEntry, ...] | None:
        entry = self.index.module(dotted)
        return (entry,) if entry is not None else None

    def bound(self, name: str):
        if name in self.locals:
            return self.class_named(self.locals[name], near=self.path)
        binding = self.bindings.get(name)
        if binding is None:
            return None
        module, member = binding
        if member is None:
            return self.module_files(module)
        return self.module_files(f"{module}.{member}") or self.imported_definition(module, member)

    def imported_definition(self, module: str, name: str) -> Definition | None:
        files = self.module_files(module)
        found = self.module_member(files, name) if files else None
        if found is None:  # re-exported by a package's __init__: the definition where it lies in the package
            candidates = [d for d in self.index.named(name) if d.container is None]
            found = next((d for d in candidates if (python_module(d.path) + ".").startswith(module + ".")), None)
        return found

    def module_member(self, files, name: str):
        submodule = self.module_files(f"{files[0].module}.{name}") if files[0].module else None
        return submodule or super().module_member(files, name)

    def targets(self, scope: str, line: str, cursor_line: int) -> list[Target]:
        for match in PY_ANNOTATED.finditer(scope):  # parameters and variables with a type: `frame: Frame`
            self.locals.setdefault(match.group(1), match.group(2).split(".")[-1])
        for match in PY_ASSIGNED.finditer(scope):  # `frame = Frame(...)`
            self.locals.setdefault(match.group(1), match.group(2).split(".")[-1])
        found = []
        code = PY_FROM.sub(_blank, PY_IMPORT.sub(_blank, scope))  # the imports themselves use nothing
        for name, position in _used_names(code):  # imported names the scope uses
            binding = self.bindings.get(name)
            if binding is not None and binding[1] is not None and self.module_files(f"{binding[0]}.{binding[1]}") is None:
                definition = self.imported_definition(*binding)
                if definition is not None:
                    found.append(Target(TargetKind.DEFINITION, f"{definition.path}:{definition.start_line}",
                                        f"uses {name}, imported from", position, definition=definition))
        found.extend(self.chain_targets(scope, cursor_line))
        at_cursor = PY_FROM_AT_CURSOR.match(line)
        if at_cursor:
            files = self.module_files(self.absolute(at_cursor.group(1)))
            if files:
                found.append(self.module_target(files, len(scope), "from ... import at the cursor:"))
        return found


# -- JavaScript / TypeScript ------------------------------------------------------------------------------------
JS_IMPORT = re.compile(r"\bimport\s+(?:type\s+)?([^'\"]*?)\s*from\s*['\"]([^'\"]+)['\"]")
JS_REQUIRE = re.compile(r"\b(?:const|let|var)\s+([\w$]+|\{[^}]*\})\s*=\s*require\(\s*['\"]([^'\"]+)['\"]\s*\)")
JS_FROM_ON_LINE = re.compile(
    r"^\s*(?:import|export)\b[^'\"]*\bfrom\s*['\"]([^'\"]+)['\"]|^\s*(?:const|let|var)\s*\{[^}]*\}\s*=\s*require\(\s*['\"]([^'\"]+)"
)
JS_EXTENSIONS = (".ts", ".tsx", ".js", ".jsx", ".mjs", ".cjs", ".d.ts")


@functools.lru_cache(maxsize=32)
def javascript_imports(text: str) -> tuple[tuple[str, str, str | None], ...]:
    """(name bound, specifier, the name imported from it or None for the module: default and namespace imports)."""
    found = []
    for match in (*JS_IMPORT.finditer(text), *JS_REQUIRE.finditer(text)):
        clause, specifier = match.group(1), match.group(2)
        named = re.search(r"\{([^}]*)\}", clause)
        for part in named.group(1).split(",") if named else ():
            words = part.replace("type ", "").split()
            if words:
                alias = words[2] if len(words) == 3 and words[1] in ("as", ":") else words[0]
                found.append((alias.rstrip(":"), specifier, words[0].rstrip(":")))
        for alias in re.sub(r"\{[^}]*\}", "", clause).replace("* as", "").replace(",", " ").split():
            found.append((alias, specifier, None))
    return tuple(found)


class JavaScriptResolver(Resolver):
    self_names = ("this",)

    def __init__(self, index: WorkspaceIndex, path: str, head: str, scope: str) -> None:
        super().__init__(index, path)
        # name -> (specifier, name in it or None: the module itself)
        self.bindings = {alias: (specifier, member) for alias, specifier, member in javascript_imports(head + "\n" + scope)}

    def module_files(self, specifier: str) -> tuple[FileEntry, ...] | None:
        """A relative specifier as Node and bundlers resolve it: the file, with an extension, or its index."""
        if not specifier.startswith("."):
            return None
        base = os.path.normpath(os.path.join(os.path.dirname(self.path), specifier))
        stem = os.path.splitext(base)[0] if base.endswith((".js", ".mjs", ".cjs", ".jsx")) else base
        for candidate in (base, *(stem + e for e in JS_EXTENSIONS), *(os.path.join(base, "index" + e) for e in JS_EXTENSIONS)):
            entry = self.index.entry(candidate)
            if entry is not None:
                return (entry,)
        return None

    def bound(self, name: str):
        binding = self.bindings.get(name)
        if binding is None:
            return None
        files = self.module_files(binding[0])
        if files is None or binding[1] is None:
            return files
        return self.module_member(files, binding[1])

    def targets(self, scope: str, line: str, cursor_line: int) -> list[Target]:
        found = []
        code = JS_REQUIRE.sub(_blank, JS_IMPORT.sub(_blank, scope))  # the imports themselves use nothing
        for name, position in _used_names(code):
            binding = self.bindings.get(name)
            if binding is not None and binding[1] is not None:
                files = self.module_files(binding[0])
                target = self.named_definition(files, binding[1], position, "uses, imported:") if files else None
                if target is not None:
                    found.append(target)
        found.extend(self.chain_targets(scope, cursor_line))
        at_cursor = JS_FROM_ON_LINE.match(line)
        if at_cursor:
            files = self.module_files(at_cursor.group(1) or at_cursor.group(2))
            if files:
                found.append(self.module_target(files, len(scope), "import from at the cursor:"))
        return found


# -- Go ------------------------------------------------------------------------------------------------------------
GO_IMPORT = re.compile(r"^\s*(?:import\s+)?([\w.]+\s+)?\"([^\"]+)\"", re.MULTILINE)


class GoResolver(Resolver):
    def __init__(self, index: WorkspaceIndex, path: str, head: str) -> None:
        super().__init__(index, path)
        self.packages: dict[str, str] = {}  # name -> import path
        for match in GO_IMPORT.finditer(head):
            alias = (match.group(1) or "").strip() or match.group(2).rstrip("/").split("/")[-1]
            self.packages[alias] = match.group(2)

    def package_files(self, import_path: str) -> tuple[FileEntry, ...] | None:
        folder = self.index.go_package_folder(import_path)
        files = self.index.package_files(folder) if folder else []
        return tuple(sorted(files, key=lambda e: e.path)) or None

    def bound(self, name: str):
        return self.package_files(self.packages[name]) if name in self.packages else None

    def module_member(self, files, name: str):
        return super().module_member(files, name)

    def targets(self, scope: str, line: str, cursor_line: int) -> list[Target]:
        found = []
        siblings = tuple(e for e in self.index.package_files(os.path.dirname(self.path)) if e.path != self.path)
        for name, position in _used_names(scope):  # the package's own names, defined in its other files
            target = self.named_definition(siblings, name, position, "uses, same package:") if siblings else None
            if target is not None:
                found.append(target)
        found.extend(self.chain_targets(scope, cursor_line))
        return found
