"""The whole filter chain, as the user sees its result, and the early stop it tells the engine about."""

import pytest

from codegen_lsp.postprocess import ends_here, postprocess
from golden import at

CASES = [
    # (language, document, raw model text, expected)
    ("python", "def area(r):\n    ¦\n\nprint(area(2))\n", "return 3.14 * r * r\n\ndef volume(r):\n    return 0\n", "return 3.14 * r * r"),
    ("python", "def f(x):\n\tif x:¦\n\treturn 0\n", "\n        y = x\n        return y\n    return 0\n", "\n\t\ty = x\n\t\treturn y"),
    ("python", "names = sorted(¦)\n", "items, key=len)\n", "items, key=len"),
    ("javascript", "function f(xs) {\n  ¦\n}\n", "const n = xs.length;   \n  return n;\n}\n\nfunction g() {}\n", "const n = xs.length;\n  return n;"),
    ("typescript", "const total = sum(¦, 1);\n", "a, 1);\nconsole.log(total);", "a"),
    ("c", "int main(void) {\n    printf(\"¦\");\n}\n", "hello\\n\");\n    return 0;\n}", "hello\\n"),
    ("cpp", "int f(int x) {\n  int y = 0;\n  ¦\n  return y;\n}\n", "y = x * 2;\n  return y;\n}", "y = x * 2;"),
    ("go", "func main() {\n\tif ok {¦\n\t}\n}\n", "\n        fmt.Println(\"ok\")\n    }\n}", "\n\t\tfmt.Println(\"ok\")"),
    ("java", "class A {\n    int f(int x) {¦\n    }\n}\n", "\n        return x + 1;\n    }\n\n    int g() {", "\n        return x + 1;"),
    # whitespace only: nothing to show
    ("python", "def f():\n    ¦\n", "   \n  ", ""),
]


@pytest.mark.parametrize("language, document, raw, expected", CASES)
def test_postprocess_golden(language, document, raw, expected):
    assert postprocess(raw, at(document, language)) == expected


def test_ends_here_once_the_scope_has_ended():
    ctx = at("def f(x):\n    ¦\n", "python")
    assert not ends_here("y = x\n    return", ctx)
    assert ends_here("y = x\n    return y\nprint", ctx)


def test_ends_here_after_one_line_when_code_follows_the_cursor():
    ctx = at("total = sum(¦, 1)\n", "python")
    assert not ends_here("a + b", ctx)
    assert ends_here("a + b\n", ctx)
