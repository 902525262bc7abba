"""repetition.cut_repetition: a loop the model fell into is kept once."""

import pytest

from codegen_lsp.postprocess.repetition import cut_repetition
from golden import at

CASES = [
    # (language, document, raw model text, expected)
    ("python", "x = ¦\n", "fix(code, fix(code, fix(code, fix(code,", "fix(code, "),
    ("python", "def f():\n    ¦\n", "log('a')\n    log('a')\n    log('a')\n    log('a')", "log('a')"),
    ("javascript", "const a = ¦\n", "b.c.d.c.d.c.d.c.d", "b.c.d"),
    ("typescript", "let s = ¦\n", "items.map(items.map(items.map(items.map(", "items.map("),
    ("c", "int a[] = {¦};\n", "0, 0, 0, 0, 0, 0, 0, 0", "0, 0, 0, 0, 0, 0, 0, 0"),  # data, not a loop
    ("cpp", "f(¦);\n", "x)))", "x)))"),
    ("go", "func f() {\n\t¦\n}\n", "x := 1\n\ty := 2\n\ty := 2", "x := 1\n\ty := 2\n\ty := 2"),  # twice is fine
    ("java", "int x = ¦\n", "foo.bar().bar().bar().bar()", "foo.bar()"),
]


@pytest.mark.parametrize("language, document, raw, expected", CASES)
def test_cut_repetition_golden(language, document, raw, expected):
    assert cut_repetition(raw, at(document, language)) == expected


BLOCKS = [
    ("python", "def f(size):\n    ¦\n", "if size < 0:\n        raise ValueError(size)\n    if size < 0:\n        raise ValueError(size)\n    return size", "if size < 0:\n        raise ValueError(size)"),
    ("python", "for x in xs:¦\n", "\n    if x:\n        x = x.strip()\n        if x:\n            x = x.strip()", "\n    if x:\n        x = x.strip()"),  # nesting deeper each round
    ("javascript", "function f() {\n  ¦\n}\n", "a();\n  b();\n  a();\n  c();", "a();\n  b();\n  a();\n  c();"),  # not a loop
]


@pytest.mark.parametrize("language, document, raw, expected", BLOCKS)
def test_cut_repeated_blocks_golden(language, document, raw, expected):
    assert cut_repetition(raw, at(document, language)) == expected
