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
# A name, called with arguments that hold no parentheses: `get_context()`, `frame.soft()`, `env.get_template(name)`.
SEGMENT = r"[A-Za-z_$][\w$]*(?:\([^()\n]*\))?"
# A chain with a call in it, before a `.`: what a function returns is a receiver too (`get_context().¦`).
CALLED_CHAIN = re.compile(rf"(?<![\w$.])({SEGMENT}(?:\s*\.\s*{SEGMENT})*)\s*\.")
SCOPE_MAX_LINES = 64  # a scope longer than this starts on a 32-line grid (stable while typing inside it)
SCOPE_GRID = 32
IMPORT_HEAD_CHARS = 30_000
CLASS_LOOKBACK_LINES = 3000  # imports are read from the file's start (and from the scope)
LINEAGE_DEPTH = 3  # base classes followed for a member: the class's parents, theirs, and theirs
CLASS_BASES = re.compile(r"^\s*(?:export\s+)?(?:abstract\s+)?class\s+[\w$]+\s*(?:\[[^\]]*\])?\s*\(([^)]*)\)")


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
    via: str = ""  # MODULE: the name the code reaches it through (`nodes`), when it is a receiver
    submodules: tuple[str, ...] = ()  # MODULE: a package's modules, at `from . import ¦`
    # MODULE: the enclosing functions' names and their `_` parts, lower case (`visit_overlayscope`, `visit`,
    # `overlayscope`): a module name among them is likely the one wanted (`def visit_OverlayScope(self, node:
    # nodes.¦OverlayScope`, `def parse_and(self): ... nodes.¦And`).
    scope_words: frozenset[str] = frozenset()
    import_head: str = ""  # MODULE: `from .utils import`, when the cursor is at that import
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
        """`a.b.¦`, `a.b.c(` and `f().¦`: the object the last `.` is taken from, resolved step by step."""
        found = []
        receivers = []
        for match in CHAIN.finditer(scope):
            names = [n.strip() for n in match.group(1).split(".")]
            receivers.append((names if match.group(2) else names[:-1], match.start()))
        for match in CALLED_CHAIN.finditer(scope):
            if "(" in match.group(1):
                receivers.append((chain_names(match.group(1)), match.start()))
        for receiver, position in sorted(receivers, key=lambda r: r[1]):
            if not receiver:
                continue
            key = tuple(receiver)
            if key not in self._chains:  # `self.writeline(` forty times: resolved once
                self._chains[key] = self.resolve_chain(receiver, 0, cursor_line)
            target = self._chains[key]
            if target is not None:
                found.append(replace(target, position=position))
        return found

    def resolve_chain(self, names: list[str], position: int, cursor_line: int) -> Target | None:
        thing = self.thing_of(names, cursor_line)
        if thing is None:
            return None
        shown = ".".join(names)
        if isinstance(thing, tuple):  # files: a module or package
            return self.module_target(thing, position, f"{shown}. is", via=shown)
        if thing.kind in (Kind.CLASS, Kind.INTERFACE):
            return Target(TargetKind.CLASS, f"{thing.path}:{thing.start_line}", f"{shown}. is {thing.kind} {thing.name}",
                          position, definition=thing, members=self.members_with_inherited(thing), via=shown)
        return Target(TargetKind.DEFINITION, f"{thing.path}:{thing.start_line}", f"{shown}. is {thing.kind} {thing.name}",
                      position, definition=thing)

    def thing_of(self, names: list[str], cursor_line: int):
        """What a chain of names leads to: files (a module), or a definition; a name ending in `()` is called
        (a function gives what it returns, a class an instance of itself)."""
        thing = None
        for number, name in enumerate(names):
            called = name.endswith("()")
            name = name.removesuffix("()")
            thing = self.first(name, cursor_line) if number == 0 else self.step(thing, name) if thing else None
            if called and thing is not None:
                thing = self.called(thing)
            if not isinstance(thing, tuple) and thing is not None and thing.kind == Kind.VARIABLE and thing.returns:
                thing = self.class_named(thing.returns, near=thing.path)  # `env = Environment()` in a module
            if thing is None:
                return None
        return thing

    def called(self, thing):
        if isinstance(thing, tuple):
            return None
        if thing.kind in (Kind.CLASS, Kind.INTERFACE):
            return thing
        if thing.kind in (Kind.FUNCTION, Kind.METHOD) and thing.returns:
            if thing.returns == "Self" and thing.container:
                return self.class_named(thing.container, near=thing.path)
            return self.class_named(thing.returns, near=thing.path)
        return None

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
            for cls in self.lineage(thing):  # the class, then its bases
                kind = cls.attribute_type(name)
                if kind:
                    return self.class_named(kind, near=cls.path)
                member = next((d for d in self.class_members(cls) if d.name == name), None)
                if member is not None:
                    return member
            return self.class_like(name)
        return None

    def lineage(self, cls: Definition) -> list[Definition]:
        """The class and the classes it derives from (as written in its header, found in the index), nearest
        first, each once, LINEAGE_DEPTH generations at most."""
        found, generation = [cls], [cls]
        for _ in range(LINEAGE_DEPTH):
            parents = []
            for child in generation:
                bases = CLASS_BASES.match(child.signature)
                for base in bases.group(1).split(",") if bases else ():
                    name = base.split("[")[0].split("=")[0].strip().split(".")[-1]
                    parent = self.class_named(name, near=child.path) if IDENTIFIER.fullmatch(name or "-") else None
                    if parent is not None and parent not in found:
                        found.append(parent)
                        parents.append(parent)
            generation = parents
        return found

    def members_with_inherited(self, cls: Definition) -> tuple[Definition, ...]:
        """The class's members, then those of its bases that it does not override."""
        found: dict[str, Definition] = {}
        for ancestor in self.lineage(cls):
            for member in self.class_members(ancestor):
                found.setdefault(member.name, member)
        return tuple(found.values())

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

    def module_target(self, files: tuple[FileEntry, ...], position: int, why: str, via: str = "") -> Target:
        return Target(TargetKind.MODULE, "module:" + files[0].path, f"{why} {_name_of(files)}", position, files=files,
                      via=via, scope_words=self.scope_words)

    # Target.scope_words (read from the enclosing functions' headers, so stable while the user types in them).
    scope_words: frozenset[str] = frozenset()


def _name_of(files: tuple[FileEntry, ...]) -> str:
    entry = files[0]
    return entry.module or os.path.basename(entry.path if len(files) == 1 else os.path.dirname(entry.path))


def _distance(a: str, b: str) -> int:
    common = os.path.commonpath([a, b]) if os.path.isabs(a) == os.path.isabs(b) else ""
    return a.count(os.sep) + b.count(os.sep) - 2 * common.count(os.sep)


def _blank(match: re.Match) -> str:
    return " " * len(match.group(0))


def chain_names(text: str) -> list[str]:
    """`env.get_template(name).render` -> ['env', 'get_template()', 'render']."""
    return [m.group(0).split("(")[0] + ("()" if "(" in m.group(0) else "") for m in re.finditer(SEGMENT, text)]


def _used_names(scope: str) -> list[tuple[str, int]]:
    return [(m.group(0), m.start()) for m in IDENTIFIER.finditer(scope)]


# -- Python ---------------------------------------------------------------------------------------------------
PY_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)?|[^\n]*)", re.MULTILINE)
PY_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n]+)", re.MULTILINE)
PY_FROM_AT_CURSOR = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import\b")
PY_ANNOTATED = re.compile(r"\b(\w+)[ \t]*:[ \t]*(?:[\w.]+\[)?[\"']?([A-Za-z_][\w.]*)")
# `x = Frame(...)`, `ctx = get_current_context()`, `env = self.environment`, `t = await env.get_template(n)`.
PY_ASSIGNED = re.compile(rf"^[ \t]*(\w+)[ \t]*=[ \t]*(?:await[ \t]+)?({SEGMENT}(?:\s*\.\s*{SEGMENT})*)([ \t]*\()?", re.MULTILINE)
PY_DEF = re.compile(r"^([ \t]*)(?:async[ \t]+)?def[ \t]")
PY_DEF_NAME = re.compile(r"\bdef[ \t]+(\w+)")
DEF_HEADER_LINES = 20  # a signature over more lines than this is read no further


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
        self.locals: dict[str, str] = {}  # name -> the class its annotation names
        self.assigned: dict[str, list[str]] = {}  # name -> the chain last assigned to it (`get_context()`)
        self._resolving: set[str] = set()  # assigned names being resolved (`x = x.parent`)

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
        if name in self.assigned and name not in self._resolving:
            self._resolving.add(name)
            try:
                return self.thing_of(self.assigned[name], -1)
            finally:
                self._resolving.discard(name)
        binding = self.bindings.get(name)
        if binding is None:  # a name this file defines at its top level (`_env = Environment()`, a function)
            return next((d for d in self.entry.top_level() if d.name == name), None) if self.entry else None
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

    @functools.cached_property
    def enclosing_signatures(self) -> str:
        """The headers of the functions the cursor is in, innermost first (their parameters' annotations name
        the types of the names the scope uses, also when the scope starts below a long function's header)."""
        headers = []
        line = self.lines[-1] if self.lines else ""
        indent = len(line) - len(line.lstrip()) if line.strip() else 1 << 30
        for number in range(len(self.lines) - 2, max(-1, len(self.lines) - 2 - CLASS_LOOKBACK_LINES), -1):
            text = self.lines[number]
            found = PY_DEF.match(text) if "def" in text else None
            if found and len(found.group(1)) < indent:
                header = self.lines[number : number + DEF_HEADER_LINES]
                end = next((i for i, h in enumerate(header) if h.rstrip().endswith(":")), len(header) - 1)
                headers.append("\n".join(header[: end + 1]))
                indent = len(found.group(1))
            elif text[:1].isalpha() or text[:1] == "_":
                break  # a top-level statement: no function above encloses the cursor
        return "\n".join(headers)

    def submodules(self, entry: FileEntry) -> tuple[str, ...]:
        """A package's modules (`from . import ¦nodes`), less the one the cursor is in."""
        if entry.module is None or os.path.basename(entry.path) != "__init__.py":
            return ()
        own = self.entry.module if self.entry is not None else None
        return tuple(m for m in self.index.submodules(entry.module) if f"{entry.module}.{m}" != own)

    @functools.cached_property
    def scope_words(self) -> frozenset[str]:
        words = set()
        line = self.lines[-1] if self.lines else ""  # a header being written: `def visit_Include(self, node: nodes.¦`
        for name in PY_DEF_NAME.findall(self.enclosing_signatures + "\n" + line):
            words.add(name.lower())
            words.update(part.lower() for part in name.split("_") if part)
        return frozenset(words)

    def targets(self, scope: str, line: str, cursor_line: int) -> list[Target]:
        for text in (scope, self.enclosing_signatures):  # parameters and variables with a type: `frame: Frame`
            for match in PY_ANNOTATED.finditer(text):
                self.locals.setdefault(match.group(1), match.group(2).split(".")[-1])
        for match in PY_ASSIGNED.finditer(scope):  # `frame = Frame(...)`, `ctx = get_context()`: the last one
            names = chain_names(match.group(2))
            if match.group(3) and names and not names[-1].endswith("()"):
                names[-1] += "()"  # called with arguments that hold parentheses
            self.assigned[match.group(1)] = names
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
                target = self.module_target(files, len(scope), "from ... import at the cursor:")
                found.append(replace(target, import_head=f"from {at_cursor.group(1)} import",
                                     submodules=self.submodules(files[0])))
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
