"""suffix: no lines that repeat the code after the cursor, no closers that the suffix already has."""

import pytest

from codegen_lsp.postprocess.suffix import drop_duplicated_closers, drop_repeated_suffix_lines
from golden import at

REPEATED_LINES = [
    # (language, document, raw model text, expected)
    ("python", "def f(x):\n    ¦\n    return y\n", "y = x * 2\n    return y\n", "y = x * 2"),
    ("python", "def f(x):\n    ¦\n    return y\n", "return y", ""),  # the first line already follows
    ("javascript", "function f() {\n  ¦\n  return y;\n}\n", "const y = 1;\n  return y;\n}", "const y = 1;"),
    ("typescript", "function f(): number {\n  ¦\n  return y;\n}\n", "let y = 2;\n  return y;", "let y = 2;"),
    ("c", "int main(void) {\n    ¦\n    return 0;\n}\n", "puts(\"hi\");\n    return 0;\n}", "puts(\"hi\");"),
    ("go", "func main() {\n\t¦\n\tfmt.Println(x)\n}\n", "x := 1\n\tfmt.Println(x)\n}", "x := 1"),
    # a short line (`}`) repeats legitimately unless the line after it repeats too
    ("java", "void f() {\n    if (a) {\n        ¦\n    }\n    g();\n}\n", "if (b) {\n            h();\n        }\n        k();", "if (b) {\n            h();\n        }\n        k();"),
    ("cpp", "void f() {\n    ¦\n}\nint g() {\n", "x();\n}\nint g() {", "x();"),
]

DUPLICATED_CLOSERS = [
    ("python", "print(¦)\n", "\"hello\")", "\"hello\""),
    ("python", "print(\"¦\")\n", "hello\")", "hello"),
    ("python", "values = [¦]\n", "f(1), f(2)]", "f(1), f(2)"),  # its own brackets stay
    ("javascript", "call(f(¦));\n", "x));", "x"),
    ("typescript", "const xs: number[] = [¦];\n", "1, 2, 3];", "1, 2, 3"),
    ("c", "int a[] = {¦};\n", "1, 2};", "1, 2"),
    ("cpp", "std::string s = \"¦\";\n", "text\";", "text"),
    ("go", "fmt.Println(¦)\n", "\"done\")", "\"done\""),
    ("java", "list.add(¦);\n", "item);", "item"),
    ("java", "list.add(¦);\n", "map.get(key)", "map.get(key)"),  # nothing closed twice
    ("python", "if ready ¦:\n", "and not done:", "and not done"),
    ("javascript", "let x = 1¦;\n", "0;", "0"),
]


@pytest.mark.parametrize("language, document, raw, expected", REPEATED_LINES)
def test_drop_repeated_suffix_lines_golden(language, document, raw, expected):
    assert drop_repeated_suffix_lines(raw, at(document, language)) == expected


@pytest.mark.parametrize("language, document, raw, expected", DUPLICATED_CLOSERS)
def test_drop_duplicated_closers_golden(language, document, raw, expected):
    assert drop_duplicated_closers(raw, at(document, language)) == expected
