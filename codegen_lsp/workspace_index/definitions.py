"""The definitions a source file makes: name, kind, signature, line range, and a short excerpt of the body.

Python is read with `ast` (exact, and it knows a class's attributes: `self.symbols = Symbols(...)`); JavaScript,
TypeScript and Go with tree-sitter (the `quality` extra), which also reads files that do not parse.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from enum import StrEnum

SIGNATURE_CHARS = 200
EXCERPT_LINES = 8  # lines of a definition kept for the prompt: its header and the start of its body
EXCERPT_CHARS = 480


class Kind(StrEnum):
    CLASS = "class"
    FUNCTION = "function"
    METHOD = "method"
    VARIABLE = "variable"
    TYPE = "type"  # a type alias, an enum, a Go named type
    INTERFACE = "interface"


@dataclass(frozen=True)
class Definition:
    name: str
    kind: Kind
    signature: str  # the header as written (`def find_ref(self, name):`), one line, cut to SIGNATURE_CHARS
    start_line: int  # 0-based, inclusive
    end_line: int
    path: str
    container: str | None = None  # the class (Go: the receiver type) a method or attribute belongs to
    excerpt: str = ""  # the first EXCERPT_LINES lines of the definition
    attributes: tuple[tuple[str, str], ...] = field(default=())  # a class's attributes and their types' names
    # Python: the class a function returns (its `->` annotation) or a module variable holds (`x: T`, `x = T()`),
    # by name; "Self" for a method that returns its own class. What `x = f()` then `x.¦` is read through.
    returns: str | None = None

    def attribute_type(self, name: str) -> str | None:
        return next((kind for attribute, kind in self.attributes if attribute == name), None)


def definitions_of(text: str, path: str, language: str) -> list[Definition] | None:
    """The definitions in `text`; None when the language has no reader here or the text cannot be read
    (a Python file mid-edit: the caller keeps what it had)."""
    if language == "python":
        return python_definitions(text, path)
    grammar = TREE_SITTER_GRAMMARS.get(language)
    if grammar is None:
        return None
    parser = _parser(grammar)
    if parser is None:
        return None
    return _tree_sitter_definitions(parser.parse(text.encode("utf-8", "surrogatepass")), text, path, language)


def _excerpt(lines: list[str], start: int, end: int) -> str:
    return "\n".join(lines[start : min(end + 1, start + EXCERPT_LINES)])[:EXCERPT_CHARS]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:SIGNATURE_CHARS]


# -- Python -------------------------------------------------------------------------------------------------
def python_definitions(text: str, path: str) -> list[Definition] | None:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return None
    lines = text.split("\n")
    found: list[Definition] = []
    for node in tree.body:
        found.extend(_python_node(node, lines, path, None))
    return found


def _python_header(node, lines: list[str]) -> str:
    body_line = node.body[0].lineno - 1 if node.body else node.lineno
    last = max(node.lineno - 1, min(body_line - 1, node.lineno + 3))
    header = " ".join(line.strip() for line in lines[node.lineno - 1 : last + 1])
    if node.body and node.body[0].lineno == node.lineno:  # `def f(): return 1` on one line
        header = header[: header.find(":", header.find(")") + 1) + 1] or header
    return _one_line(header)


def _python_node(node, lines: list[str], path: str, container: str | None) -> list[Definition]:
    start, end = getattr(node, "lineno", 1) - 1, (getattr(node, "end_lineno", None) or 1) - 1
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        kind = Kind.METHOD if container else Kind.FUNCTION
        return [Definition(node.name, kind, _python_header(node, lines), start, end, path, container,
                           _excerpt(lines, start, end), returns=_held_type(node.returns))]
    if isinstance(node, ast.ClassDef):
        members = [d for child in node.body for d in _python_node(child, lines, path, node.name)]
        attributes = _python_attributes(node)
        cls = Definition(node.name, Kind.CLASS, _python_header(node, lines), start, end, path, container,
                         _excerpt(lines, start, end), attributes)
        return [cls, *members]
    if isinstance(node, (ast.Assign, ast.AnnAssign)) and container is None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if isinstance(node, ast.AnnAssign):
            held = _held_type(node.annotation)
        else:  # `x = Frame(...)`: a class is called (a function's result is not followed here)
            held = _held_type(node.value.func) if isinstance(node.value, ast.Call) else None
            held = held if held and held[:1].isupper() else None
        return [
            Definition(t.id, Kind.VARIABLE, _one_line(lines[start]), start, end, path, None, _excerpt(lines, start, end),
                       returns=held)
            for t in targets
            if isinstance(t, ast.Name)
        ]
    return []


def _type_name(node) -> str | None:
    """`Symbols` from `Symbols(...)`, `t.Optional[Symbols]`, `"Symbols"`, `symbols.Symbols`."""
    if isinstance(node, ast.Call):
        return _type_name(node.func)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):  # Optional[X], t.Optional[X]: the inner type
        return _type_name(node.slice)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.strip("'\" ").split(".")[-1].split("[")[-1].rstrip("]") or None
    if isinstance(node, ast.BinOp):  # X | None
        return _type_name(node.left)
    return None


# Annotations around one class that name it: `Optional[Frame]`, `t.Union[Frame, None]`, `te.Final[Frame]`.
# Containers (`List[Frame]`, `Iterator[Frame]`) hold something else than a Frame: not followed.
WRAPPING_TYPES = frozenset({"Optional", "Union", "Final", "ClassVar", "Annotated", "Type"})


def _held_type(node) -> str | None:
    """The class an annotation or a call names, when it names one (see WRAPPING_TYPES); None otherwise."""
    if node is None:
        return None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a forward reference: "Frame"
        try:
            return _held_type(ast.parse(node.value.strip(), mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Subscript):
        outer = _type_name(node.value)
        if outer not in WRAPPING_TYPES:
            return None
        inner = node.slice.elts[0] if isinstance(node.slice, ast.Tuple) and node.slice.elts else node.slice
        return _held_type(inner)
    if isinstance(node, ast.BinOp):  # X | None
        return _held_type(node.left) or _held_type(node.right)
    if isinstance(node, ast.Constant):  # None
        return None
    return _type_name(node)


def _python_attributes(cls: ast.ClassDef) -> tuple[tuple[str, str], ...]:
    """`self.x = Type(...)`, `self.x: Type` in the methods, `x: Type` in the class body: (x, Type) once each."""
    found: dict[str, str] = {}
    for child in cls.body:
        if isinstance(child, ast.AnnAssign) and isinstance(child.target, ast.Name):
            name = _type_name(child.annotation)
            if name:
                found.setdefault(child.target.id, name)
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        arguments = child.args.posonlyargs + child.args.args + child.args.kwonlyargs
        annotated = {a.arg: _type_name(a.annotation) for a in arguments if a.annotation is not None}
        for node in ast.walk(child):
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.annotation
            else:
                continue
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
                if isinstance(value, ast.Name):  # `self.environment = environment`, the parameter annotated
                    name = annotated.get(value.id)
                else:
                    name = _type_name(value) if isinstance(value, ast.Call) or node.__class__ is ast.AnnAssign else None
                if name and name[:1].isupper():
                    found.setdefault(target.attr, name)
    return tuple(found.items())


# -- tree-sitter: JavaScript, TypeScript, Go -------------------------------------------------------------------
TREE_SITTER_GRAMMARS = {
    "javascript": "javascript",
    "javascriptreact": "javascript",
    "typescript": "typescript",
    "typescriptreact": "tsx",
    "go": "go",
}

KINDS = {
    "function_declaration": Kind.FUNCTION,
    "generator_function_declaration": Kind.FUNCTION,
    "class_declaration": Kind.CLASS,
    "abstract_class_declaration": Kind.CLASS,
    "interface_declaration": Kind.INTERFACE,
    "type_alias_declaration": Kind.TYPE,
    "enum_declaration": Kind.TYPE,
    "method_definition": Kind.METHOD,
    "method_signature": Kind.METHOD,
    "method_declaration": Kind.METHOD,  # Go
}
FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}


@functools.cache
def _parser(grammar: str):
    try:
        from tree_sitter_language_pack import get_parser
    except ImportError:
        return None
    return get_parser(grammar)


def _text(node) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def _tree_sitter_definitions(tree, text: str, path: str, language: str) -> list[Definition]:
    lines = text.split("\n")
    found: list[Definition] = []

    def add(node, name: str, kind: Kind, container: str | None = None, attributes=()) -> None:
        body = node.child_by_field_name("body")
        value = node.child_by_field_name("value")
        if body is None and value is not None and value.type in FUNCTION_VALUES:  # const f = (x) => {...}
            body = value.child_by_field_name("body")
        header_end = body.start_byte if body is not None else node.end_byte
        header = node.text[: header_end - node.start_byte].decode("utf-8", "replace").split("\n")[0]
        header = header.removesuffix("=>").rstrip() if body is not None else header
        start, end = node.start_point[0], node.end_point[0]
        found.append(Definition(name, kind, _one_line(header.split("\n{")[0]), start, end, path, container,
                                _excerpt(lines, start, end), tuple(attributes)))

    def visit(node, container: str | None = None) -> None:
        kind = KINDS.get(node.type)
        name_node = node.child_by_field_name("name")
        if node.type == "export_statement":
            for child in node.named_children:
                visit(child, container)
        elif node.type in ("lexical_declaration", "variable_declaration", "var_declaration", "const_declaration"):
            for child in node.named_children:
                if child.type in ("variable_declarator", "var_spec", "const_spec"):
                    value = child.child_by_field_name("value")
                    declared = Kind.FUNCTION if value is not None and value.type in FUNCTION_VALUES else Kind.VARIABLE
                    for name in _declared_names(child):
                        add(child, name, declared)
        elif node.type == "type_declaration":  # Go: type X struct {...}, type Y interface {...}
            for spec in node.named_children:
                spec_name = spec.child_by_field_name("name")
                if spec.type == "type_spec" and spec_name is not None:
                    shape = spec.child_by_field_name("type")
                    go_kind = {"struct_type": Kind.CLASS, "interface_type": Kind.INTERFACE}.get(
                        shape.type if shape is not None else "", Kind.TYPE)
                    add(spec, _text(spec_name), go_kind, attributes=_go_fields(shape))
        elif node.type == "method_declaration":  # Go: func (r *Recv) M()
            add(node, _text(name_node), Kind.METHOD, _go_receiver(node))
        elif kind is not None and name_node is not None:
            kind = Kind.METHOD if container and kind == Kind.FUNCTION else kind
            attributes = _class_fields(node) if kind == Kind.CLASS else ()
            add(node, _text(name_node), kind, container, attributes)
            if kind == Kind.CLASS:
                body = node.child_by_field_name("body")
                for member in body.named_children if body is not None else ():
                    visit(member, _text(name_node))

    for node in tree.root_node.named_children:
        visit(node)
    return found


def _declared_names(declarator) -> list[str]:
    name = declarator.child_by_field_name("name")
    if name is not None and name.type in ("identifier", "type_identifier"):
        return [_text(name)]
    return [_text(c) for c in declarator.named_children if c.type == "identifier"][:1] if name is None else []


def _class_fields(node) -> list[tuple[str, str]]:
    """A TypeScript class's typed fields (`symbols: Symbols;`)."""
    body = node.child_by_field_name("body")
    found = []
    for member in body.named_children if body is not None else ():
        name, kind = member.child_by_field_name("name"), member.child_by_field_name("type")
        if member.type == "public_field_definition" and name is not None and kind is not None:
            found.append((_text(name), _text(kind).lstrip(": ").split("<")[0].strip()))
    return found


def _go_fields(shape) -> list[tuple[str, str]]:
    if shape is None or shape.type != "struct_type":
        return []
    found = []
    for field_list in shape.named_children:
        for declaration in field_list.named_children:
            kind = declaration.child_by_field_name("type")
            for name in declaration.children_by_field_name("name"):
                found.append((_text(name), _text(kind).lstrip("*[]").split(".")[-1]))
    return found


def _go_receiver(node) -> str | None:
    receiver = node.child_by_field_name("receiver")
    for parameter in receiver.named_children if receiver is not None else ():
        kind = parameter.child_by_field_name("type")
        if kind is not None:
            return _text(kind).lstrip("*").split("[")[0]
    return None
