"""When and how much to complete, from the cursor's line; the document's indentation step."""

import pytest

from codegen_lsp.context import BLOCK, LINE, SKIP, indent_unit, language_of
from golden import at


@pytest.mark.parametrize(
    "language, document, mode",
    [
        # after a block opener at the end of the line: a block
        ("python", "def f(x):¦\n", BLOCK),
        ("javascript", "function f(x) {¦\n}\n", BLOCK),
        ("go", "func f() {¦\n}\n", BLOCK),
        ("typescript", "const f = (x: number) =>¦\n", BLOCK),
        # an empty line inside a body: a block
        ("python", "def f(x):\n    ¦\n", BLOCK),
        ("c", "int f(void) {\n    ¦\n}\n", BLOCK),
        # mid-line: the rest of the line
        ("python", "    value = os.pa¦\n", LINE),
        ("java", "        int total = ¦\n", LINE),
        # only closers after the cursor: complete (without doubling them)
        ("cpp", "    std::string s = \"¦\";\n", LINE),
        ("python", "x = [1, ¦]\n", LINE),
        # between an opener and its auto-closed closer: a block (a body, arguments over lines)
        ("python", "print(¦)\n", BLOCK),
        ("javascript", "call(f(¦));\n", BLOCK),
        ("java", "int[] xs = {¦};\n", BLOCK),
        ("go", "func main() {¦}\n", BLOCK),
        # other code after the cursor: complete only what fits before it
        ("python", "result = compute(¦, b)\n", LINE),
        ("go", "if err := f(¦); err != nil {\n", LINE),
        # a CRLF document: the \r is the line's end, not code after the cursor
        ("python", "def f(x):¦\r\n    return x\r\n", BLOCK),
        # inside a word, or before the code of a line: nothing
        ("python", "pri¦nt(x)\n", SKIP),
        ("c", "    ¦return 0;\n", SKIP),
        ("java", "get¦Name()\n", SKIP),
    ],
)
def test_mode_from_the_cursor_line(language, document, mode):
    assert at(document, language).mode == mode


def test_crlf_line_end_is_not_code_after_the_cursor():
    assert not at("x = ¦\r\ny = 2\r\n", "python").code_after


def test_forced_mode_still_skips_where_nothing_fits():
    assert at("def f(x):¦\n", "python", mode="line").mode == LINE
    assert at("pri¦nt(x)\n", "python", mode="block").mode == SKIP


@pytest.mark.parametrize(
    "text, unit",
    [
        ("def f():\n    if x:\n        y\n", "    "),
        ("function f() {\n  if (x) {\n    y();\n  }\n}\n", "  "),
        ("int f() {\n\tif (x) {\n\t\ty();\n\t}\n}\n", "\t"),
        ("func f() {\n\tx := 1\n}\n", "\t"),
        ("x = 1\n", "    "),  # nothing indented: the default
        ("class A:\n  def f(self):\n    return [\n            1]\n", "  "),  # aligned continuation lines do not count
    ],
)
def test_indent_unit_of_the_document(text, unit):
    assert indent_unit(text) == unit


def test_language_from_extension_when_the_editor_sends_plaintext():
    assert language_of("plaintext", "/src/a.go") == "go"
    assert language_of("typescriptreact", "/src/a.txt") == "typescriptreact"
