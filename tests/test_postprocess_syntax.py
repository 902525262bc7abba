"""syntax.prefer_parsable (Python): the longest line-end cut that leaves the code around the cursor parsable."""

import pytest

from codegen_lsp.postprocess.syntax import prefer_parsable
from golden import at

CASES = [
    # (document, raw model text, expected)
    # the last line would leave `else:` without a body: cut before it
    ("def f(x):\n    ¦\n\ndef g():\n    pass\n", "y = x\n    if y:\n        return 1\n    else:", "y = x\n    if y:\n        return 1"),
    # a half-written statement that the scope cut left at the end
    ("def f(x):\n    ¦\n", "total = 0\n    for i in", "total = 0"),
    # parsable already: untouched
    ("def f(x):\n    ¦\n    return y\n", "y = x + 1\n    y *= 2", "y = x + 1\n    y *= 2"),
    # the rest of the file is broken anyway: no cut can be judged, so only the first logical line is shown
    ("def f(x):\n    ¦\n    return (\n", "y = 1\n    z = (", "y = 1"),
    # no cut parses and neither does the first line, though the code parses without the completion: nothing
    ("def f(x):\n    ¦\n    return x\n", "y = = 1\n    z = 2", ""),
    # an `else:` at column 0 belongs to the statement above it
    ("if a:\n    ¦\nelse:\n    pass\n", "x = 1\n    y = [", "x = 1"),
]


@pytest.mark.parametrize("document, raw, expected", CASES)
def test_prefer_parsable_golden(document, raw, expected):
    assert prefer_parsable(raw, at(document, "python")) == expected


TREE_SITTER_CASES = [
    # (language, document, raw model text, expected)
    ("javascript", "function f(x) {\n  ¦\n}\n", "const y = x;\n  if (y) {\n    g(", "const y = x;"),
    ("typescript", "function f(x: number) {\n  ¦\n}\n", "const y: number = x;\n  return y as", "const y: number = x;"),
    ("c", "int f(int x) {\n    ¦\n}\n", "int y = x;\n    if (y) {\n        return", "int y = x;"),
    ("cpp", "int f(int x) {\n    ¦\n}\n", "auto y = x;\n    return y;", "auto y = x;\n    return y;"),
    ("go", "func f(x int) int {\n\t¦\n}\n", "y := x\n\treturn y +", "y := x"),
    ("java", "class A {\n    int f(int x) {\n        ¦\n    }\n}\n", "int y = x;\n        return y *", "int y = x;"),
]


@pytest.mark.parametrize("language, document, raw, expected", TREE_SITTER_CASES)
def test_prefer_parsable_with_tree_sitter_golden(language, document, raw, expected):
    pytest.importorskip("tree_sitter_language_pack")
    assert prefer_parsable(raw, at(document, language)) == expected


def test_without_a_parser_the_completion_is_left_alone():
    assert prefer_parsable("a;\n  b(", at("fn main() {\n  ¦\n}\n", "zig")) == "a;\n  b("
