"""Retrieval for the cursor: what the code before it refers to, resolved to definitions in other files of the
workspace (Python, JavaScript/TypeScript, Go), kept stable while the user types in the same scope."""

from __future__ import annotations

import pytest

from codegen_lsp.workspace_index import Definition, Kind, RecentEdits, WorkspaceIndex, retrieve
from codegen_lsp.workspace_index.retrieval import call_form

pytest.importorskip("tree_sitter_language_pack")

PY_FILES = {
    "pkg/__init__.py": "",
    "pkg/nodes.py": "class Node:\n    fields = ()\n\n\nclass Const(Node):\n    def as_const(self, ctx):\n        return self.value\n",
    "pkg/idtracking.py": "class Symbols:\n    def find_ref(self, name):\n        return self.refs.get(name)\n",
    "pkg/utils.py": "missing = object()\n\n\ndef concat(parts):\n    return ''.join(parts)\n",
    "pkg/compiler.py": (
        "from . import nodes\nfrom .idtracking import Symbols\nfrom .utils import missing\nimport pkg.nodes as n\n\n"
        "class Frame:\n    def __init__(self):\n        self.symbols = Symbols()\n\n\n"
        "class CodeGenerator:\n    def __init__(self):\n        self.frame = Frame()\n\n"
        "    def visit(self, node, frame: Frame):\n        pass\n"
    ),
}
JS_FILES = {
    "src/lexer.ts": "export class Lexer {\n  next(): Token { return this.tok }\n}\nexport function tokenize(s: string): Token[] {\n  return []\n}\n",
    "src/util/index.js": "export function clamp(x, lo, hi) {\n  return Math.min(hi, Math.max(lo, x))\n}\n",
    "src/parser.ts": "import { tokenize } from './lexer';\nimport * as lex from './lexer';\n\nexport function parse(src: string) {\n",
}
GO_FILES = {
    "go.mod": "module example.com/app\n\ngo 1.22\n",
    "lex/lex.go": "package lex\n\nfunc Tokenize(s string) []string {\n\treturn nil\n}\n\nfunc private() {}\n",
    "util.go": "package main\n\nfunc helper(n int) int {\n\treturn n + 1\n}\n",
    "main.go": 'package main\n\nimport (\n\t"fmt"\n\t"example.com/app/lex"\n)\n\nfunc main() {\n',
}


def workspace(tmp_path, files: dict[str, str]) -> WorkspaceIndex:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    index = WorkspaceIndex([str(tmp_path)])
    index.build()
    return index


def blocks_at(index, tmp_path, name: str, prefix: str, language: str, budget: int = 400, suffix: str = ""):
    return retrieve(index, prefix, suffix, str(tmp_path / name), language, budget, lambda b: len(b.text) // 3)


def text_of(blocks) -> str:
    return "\n".join(f"[{b.reason}]\n{b.text}" for b in blocks)


@pytest.fixture
def python_ws(tmp_path):
    return workspace(tmp_path, PY_FILES), tmp_path


def compiler(tail: str) -> str:
    return PY_FILES["pkg/compiler.py"] + tail


def test_python_module_before_a_dot(python_ws):
    index, root = python_ws
    found = text_of(blocks_at(index, root, "pkg/compiler.py", compiler("        return nodes."), "python"))
    assert "class Const(Node):" in found and "pkg.nodes" in found
    found = text_of(blocks_at(index, root, "pkg/compiler.py", compiler("        return n."), "python"))  # import a.b as n
    assert "class Const(Node):" in found


def test_python_attribute_chains_through_annotations_and_self(python_ws):
    index, root = python_ws
    found = text_of(blocks_at(index, root, "pkg/compiler.py", compiler("        frame.symbols."), "python"))
    # Each member as the code at the cursor reaches it: what the model copies at `frame.symbols.¦`.
    assert "class Symbols:\n    frame.symbols.find_ref(name)" in found
    found = text_of(blocks_at(index, root, "pkg/compiler.py", compiler("        self.frame.symbols."), "python"))
    assert "self.frame.symbols.find_ref(name)" in found


def test_python_from_import_at_the_cursor_and_imported_names_used(python_ws):
    index, root = python_ws
    found = text_of(blocks_at(index, root, "pkg/compiler.py", "from .utils import ", "python"))
    assert "from .utils import missing\nfrom .utils import concat" in found  # the cursor's line, once per name
    found = text_of(blocks_at(index, root, "pkg/compiler.py", "from pkg.idtracking import ", "python"))
    assert "from pkg.idtracking import Symbols" in found
    found = text_of(blocks_at(index, root, "pkg/compiler.py", compiler("        if node is missing:\n            "), "python"))
    assert "missing = object()" in found


def test_the_current_files_own_definitions_are_not_retrieved(python_ws):
    index, root = python_ws
    blocks = blocks_at(index, root, "pkg/compiler.py", compiler("        frame."), "python")
    assert all(not b.path.endswith("compiler.py") for b in blocks)


def test_javascript_and_typescript_imports(tmp_path):
    index = workspace(tmp_path, JS_FILES)
    parser = JS_FILES["src/parser.ts"]
    found = text_of(blocks_at(index, tmp_path, "src/parser.ts", parser + "  const l = lex.", "typescript"))
    assert "class Lexer" in found and "function tokenize(s: string): Token[]" in found
    found = text_of(blocks_at(index, tmp_path, "src/parser.ts", parser + "  const t = tokenize(src);\n  ", "typescript"))
    assert "return []" in found  # the imported function's body
    found = text_of(blocks_at(index, tmp_path, "src/parser.ts", "import { ", "typescript", suffix=" } from './util';"))
    assert "function clamp(x, lo, hi)" in found
    found = text_of(blocks_at(index, tmp_path, "src/main.js", "const { ", "javascript", suffix=" } = require('./lexer');"))
    assert "function tokenize(s: string): Token[]" in found


def test_go_package_imports_and_the_same_packages_other_files(tmp_path):
    index = workspace(tmp_path, GO_FILES)
    main = GO_FILES["main.go"]
    found = text_of(blocks_at(index, tmp_path, "main.go", main + "\tparts := lex.", "go"))
    assert "func Tokenize(s string) []string" in found and "private" not in found
    found = text_of(blocks_at(index, tmp_path, "main.go", main + "\tn := helper(2)\n\t", "go"))
    assert "func helper(n int) int {" in found


def test_a_language_without_a_resolver_gets_nothing(tmp_path):
    index = workspace(tmp_path, {"a.rs": "fn main() {}\n", "b.rb": "def x; end\n"})
    assert blocks_at(index, tmp_path, "c.rs", "use a;\nfn f() { a::", "rust") == []


def test_the_block_is_stable_while_typing_in_the_same_scope(python_ws):
    index, root = python_ws
    start = compiler("        x = frame.symbols.find_ref(node)\n        return nodes.")
    first = blocks_at(index, root, "pkg/compiler.py", start, "python")
    typed = "Const(value, lineno=3)\n        y = 1 + 2\n        z = y"
    for end in range(len(typed) + 1):
        assert blocks_at(index, root, "pkg/compiler.py", start + typed[:end], "python") == first, typed[:end]
    # A new reference adds its block after the others; the others stay as they were.
    more = blocks_at(index, root, "pkg/compiler.py", start + typed + "\n        w = missing", "python")
    assert more[: len(first)] == first and len(more) == len(first) + 1


def test_nearest_references_win_when_the_budget_is_short(python_ws):
    index, root = python_ws
    prefix = compiler("        frame.symbols.find_ref(node)\n        nodes.")
    blocks = blocks_at(index, root, "pkg/compiler.py", prefix, "python", budget=12)
    assert [b.reason for b in blocks] == ["nodes. is pkg.nodes"]


def test_recent_edits_of_other_files_come_after_the_definitions(python_ws):
    index, root = python_ws
    recent = RecentEdits()
    recent.record(str(root / "pkg/utils.py"), "python", 3, PY_FILES["pkg/utils.py"])
    recent.record(str(root / "pkg/compiler.py"), "python", 1, PY_FILES["pkg/compiler.py"])  # the current file: left out
    recent.record(str(root / "web/app.js"), "javascript", 0, "const a = 1;\n")  # another language: left out
    prefix = compiler("        return nodes.")
    path = str(root / "pkg/compiler.py")
    blocks = retrieve(index, prefix, "", path, "python", 400, lambda b: len(b.text) // 3, recent.others(path, "python"))
    assert blocks[0].reason == "nodes. is pkg.nodes"
    assert blocks[-1].reason == "recently edited, line 4" and "def concat(parts):" in blocks[-1].text
    assert len(blocks) == 2


def test_a_long_outline_is_cut_to_fit_and_lists_public_names_first(tmp_path):
    many = "".join(f"class Node{i}(Base):\n    pass\n\n\n" for i in range(120)) + "def _private():\n    pass\n"
    index = workspace(tmp_path, {"pkg/__init__.py": "", "pkg/nodes.py": many, "pkg/use.py": ""})
    blocks = blocks_at(index, tmp_path, "pkg/use.py", "from .nodes import ", "python", budget=60)
    assert len(blocks) == 1 and blocks[0].text.startswith("from .nodes import Node0\nfrom .nodes import Node1\n")
    assert len(blocks[0].text) // 3 <= 60 and "_private" not in blocks[0].text
    # Reached through a name, each is written as the code reaches it: what follows `nodes.` in the prompt.
    blocks = blocks_at(index, tmp_path, "pkg/use.py", "from . import nodes\n\n\nx = nodes.", "python", budget=800)
    assert blocks[0].text.startswith("nodes.Node0\nnodes.Node1\n") and blocks[0].text.endswith("nodes.Node119")


def test_untyped_receivers_and_attributes_named_like_a_class(python_ws):
    index, root = python_ws
    found = text_of(blocks_at(index, root, "pkg/compiler.py", "def f(symbols):\n    symbols.", "python"))
    assert "symbols.find_ref(name)" in found


# -- Python: what a name holds, read through calls, assignments, headers and base classes -------------------
TYPED_FILES = {
    "app/__init__.py": "",
    "app/context.py": (
        "import typing as t\n\n\n"
        "class Context:\n"
        "    def __init__(self, parent: t.Optional['Context'] = None):\n"
        "        self.parent = parent\n\n"
        "    def find_root(self) -> 'Context':\n        return self\n\n"
        "    def scope(self) -> 'te.Self':\n        return self\n\n"
        "    def lookup_default(self, name):\n        return None\n\n\n"
        "def get_current_context(silent: bool = False) -> 'Context':\n    return _stack[-1]\n\n\n"
        "def all_contexts() -> t.List[Context]:\n    return _stack\n"
    ),
    "app/base.py": "class BaseCommand:\n    def make_context(self, name) -> 'Context':\n        pass\n\n    def invoke_base(self, ctx):\n        pass\n",
    "app/commands.py": (
        "from .base import BaseCommand\n\n\n"
        "class Command(BaseCommand):\n    def invoke(self, ctx):\n        pass\n"
    ),
    "app/env.py": "class Environment:\n    def get_template(self, name):\n        pass\n\n\ndefault_env: 'Environment' = Environment()\n",
}


@pytest.fixture
def typed_ws(tmp_path):
    return workspace(tmp_path, TYPED_FILES), tmp_path


def at_cursor(typed_ws, prefix: str) -> str:
    index, root = typed_ws
    return text_of(blocks_at(index, root, "app/cli.py", prefix, "python"))


def test_a_name_assigned_what_a_function_returns_has_that_type(typed_ws):
    found = at_cursor(typed_ws, "from .context import get_current_context\n\n\ndef main():\n    ctx = get_current_context()\n    ctx.")
    assert "ctx.lookup_default(name)" in found and "ctx. is class Context" in found
    # A container of Contexts is not a Context: nothing is claimed for it.
    found = at_cursor(typed_ws, "from .context import all_contexts\n\n\ndef main():\n    ctxs = all_contexts()\n    ctxs.")
    assert "ctxs." not in found


def test_a_call_in_a_chain_gives_what_it_returns(typed_ws):
    head = "from .context import Context, get_current_context\n\n\ndef main(c: Context):\n"
    assert "get_current_context(). is class Context" in at_cursor(typed_ws, head + "    get_current_context().")
    assert "c.find_root().scope(). is class Context" in at_cursor(typed_ws, head + "    c.find_root().scope().")
    # A method of another module's class, reached through an annotated parameter and called with arguments.
    found = at_cursor(typed_ws, "from .commands import Command\n\n\ndef run(cli: Command, args):\n"
                                "    ctx = cli.make_context(args.pop(0), list(args))\n    ctx.")
    assert "ctx.lookup_default(name)" in found


def test_members_are_found_in_base_classes_of_other_modules(typed_ws):
    found = at_cursor(typed_ws, "from .commands import Command\n\n\ndef run(cli: Command):\n    cli.make_context('x').")
    assert "class Context:" in found
    found = at_cursor(typed_ws, "from .commands import Command\n\n\ndef run(cli: Command):\n    cli.invoke_base.")
    assert "def invoke_base(self, ctx):" in found


def test_a_module_variable_holds_an_instance_of_its_class(typed_ws):
    found = at_cursor(typed_ws, "from .env import default_env\n\n\ndef main():\n    default_env.")
    assert "default_env.get_template(name)" in found


def test_parameters_of_a_long_function_are_read_from_its_header(typed_ws):
    body = "".join(f"    x{i} = {i}\n" for i in range(150))  # the scope starts on a grid line, far below
    prefix = "from .context import Context\n\n\ndef main(\n    ctx: Context,\n    flag=False,\n):\n" + body + "    ctx."
    assert "ctx. is class Context" in at_cursor(typed_ws, prefix)
    # A top-level statement between the function and the cursor ends the search: no function encloses it.
    prefix = "from .context import Context\n\n\ndef main(ctx: Context):\n    pass\n\n\nx = 1\n" + body + "ctx."
    assert "ctx." not in at_cursor(typed_ws, prefix)


def test_a_name_that_is_assigned_itself_resolves_without_looping(typed_ws):
    found = at_cursor(typed_ws, "def main():\n    node = node.parent\n    node.")
    assert found == ""


def test_a_long_class_lists_every_method_by_name_and_its_bases_methods_after(tmp_path):
    methods = "".join(f"    def method_{i}(self, first_argument, second_argument=None):\n        pass\n\n" for i in range(60))
    index = workspace(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/base.py": "class Node:\n    def set_environment(self, environment):\n        pass\n",
        "pkg/big.py": "from .base import Node\n\n\nclass Big(Node):\n" + methods,
    })
    blocks = blocks_at(index, tmp_path, "pkg/use.py", "from .big import Big\n\n\ndef f(b: Big):\n    b.", "python", budget=600)
    text = text_of(blocks)
    assert "class Big(Node):" in text and "b.method_59()" in text  # the last of 60 methods, by name
    assert "# from Node: b.set_environment()" in text
    assert len(blocks[0].text) // 3 <= 600
    # A short class keeps its signatures, its base's after its own.
    small = workspace(tmp_path / "small", {"pkg/__init__.py": "", "pkg/base.py": PY_FILES["pkg/idtracking.py"],
                                           "pkg/more.py": "from .base import Symbols\n\n\nclass More(Symbols):\n    def extra(self):\n        pass\n"})
    text = text_of(blocks_at(small, tmp_path / "small", "pkg/use.py", "from .more import More\n\n\ndef f(m: More):\n    m.", "python"))
    assert text.index("m.extra()") < text.index("m.find_ref(name)")


def test_a_name_the_enclosing_function_is_named_after_comes_first(tmp_path):
    many = "".join(f"class Node{i}(Base):\n    pass\n\n\n" for i in range(120)) + "class OverlayScope(Base):\n    pass\n"
    index = workspace(tmp_path, {"pkg/__init__.py": "", "pkg/nodes.py": many, "pkg/use.py": ""})
    prefix = "from . import nodes\n\n\nclass Visitor:\n    def visit_OverlayScope(self, node: nodes."
    blocks = blocks_at(index, tmp_path, "pkg/use.py", prefix, "python", budget=40)
    assert blocks[0].text.startswith("nodes.OverlayScope\nnodes.Node0\nnodes.Node1\n")
    # Stable while the user types in the function: the block is the same a line further on.
    assert blocks_at(index, tmp_path, "pkg/use.py", prefix + "OverlayScope):\n        x = nodes.", "python", budget=40) == blocks


def test_from_a_package_import_lists_its_modules(python_ws):
    index, root = python_ws
    found = text_of(blocks_at(index, root, "pkg/compiler.py", "from . import ", "python"))
    assert "from . import idtracking\nfrom . import nodes\nfrom . import utils" in found
    assert "import compiler" not in found  # the module the cursor is in


@pytest.mark.parametrize("signature, name, written", [
    ("def invoke(self, callback, *args, **kwargs) -> t.Any:", "invoke", "invoke(callback, *args, **kwargs)"),
    ("def scope(cls, x=(1, 2)):", "scope", "scope(x=(1, 2))"),
    ("func (s *Stack) Push(x int) error {", "Push", "Push(x int)"),  # a Go receiver is not a parameter
    ("next(): Token {", "next", "next()"),
    ("def cut_at_the_limit(self, first, second", "cut_at_the_limit", "cut_at_the_limit(first, second)"),
])
def test_a_member_is_written_as_a_call(signature, name, written):
    method = Definition(name, Kind.METHOD, signature, 0, 1, "/w/a.py", container="C")
    assert call_form(method) == written
