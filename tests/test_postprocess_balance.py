"""balance.cut_unclosed: no completion ends inside a bracket or string it opened, when a cleaner cut exists."""

import pytest

from codegen_lsp.postprocess.balance import cut_unclosed
from golden import at

CASES = [
    # (language, document, raw model text, expected)
    ("python", "def f():\n    ¦\n", "x = 1\n    y = g(x,\n          2", "x = 1"),
    ("python", "def f():\n    ¦\n", "x = 1\n    s = \"\"\"doc\n    more", "x = 1"),
    ("python", "def f():\n    ¦\n", "x = g(1)\n    return x", "x = g(1)\n    return x"),  # balanced: untouched
    ("javascript", "function f() {\n  ¦\n}\n", "const a = 1;\n  const b = [1, 2,", "const a = 1;"),
    ("typescript", "function f() {\n  ¦\n}\n", "const a = `x`;\n  const b = `open\n  still", "const a = `x`;"),
    ("c", "int f(void) {\n    ¦\n}\n", "int a = 1;\n    /* a comment that\n    goes on", "int a = 1;"),
    ("cpp", "void f() {\n    ¦\n}\n", "g();\n    h(a, \")\",", "g();"),
    ("go", "func f() {\n\t¦\n}\n", "x := 1\n\ty := []int{1,", "x := 1"),
    ("java", "void f() {\n    ¦\n}\n", "int a = 1;\n    foo(a,", "int a = 1;"),
    # closing brackets that the prefix opened are fine
    ("python", "x = f(1,\n      ¦\n", "2,\n      3)", "2,\n      3)"),
]


@pytest.mark.parametrize("language, document, raw, expected", CASES)
def test_cut_unclosed_golden(language, document, raw, expected):
    assert cut_unclosed(raw, at(document, language)) == expected


SINGLE_LINE = [
    # one line that ran out of tokens inside a call or string: stop after its last complete piece
    ("python", "x = ¦\n", "fix(code, ", "fix"),
    ("javascript", "const s = ¦\n", "join(a, b) + \"unfinished", "join(a, b)"),
    ("java", "int n = ¦\n", "a.size() + count(", "a.size() + count"),
    ("go", "x := ¦\n", "(", "("),  # nothing complete to fall back on
]


@pytest.mark.parametrize("language, document, raw, expected", SINGLE_LINE)
def test_cut_unclosed_single_line_golden(language, document, raw, expected):
    assert cut_unclosed(raw, at(document, language)) == expected


def test_no_balanced_line_end_falls_back_to_the_last_complete_piece():
    raw = '\n        return "<%s %s>" % (self.name,\n            self.value,\n            self.val'
    assert cut_unclosed(raw, at("    def __repr__(self):¦\n", "python")) == '\n        return "<%s %s>"'
