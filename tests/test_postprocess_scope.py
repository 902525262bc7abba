"""scope.cut_to_scope: a completion ends where the code it started in ends."""

import pytest

from codegen_lsp.postprocess.scope import cut_to_scope
from golden import at

CASES = [
    # (language, document, raw model text, expected)
    # -- Python: the first line that dedents below the block ends it
    ("python", "def f(x):\n    ¦\n", "y = x + 1\n    return y\n\ndef g():\n    pass\n", "y = x + 1\n    return y\n"),
    ("python", "def f(x):¦\n", "\n    return x\nprint(f(2))\n", "\n    return x"),
    ("python", "class A:\n    def f(self):\n        ¦\n", "return 1\n    def g(self):\n", "return 1"),
    # a docstring's or a bracket's lines may sit lower: they do not end the block
    ("python", "def f():\n    ¦\n", 'x = """\nfree text\n"""\n    return x\nz = 1\n', 'x = """\nfree text\n"""\n    return x'),
    ("python", "def f():\n    ¦\n", "call(a,\nb)\n    return\nz = 1\n", "call(a,\nb)\n    return"),
    # at top level nothing dedents: a new definition after a blank line ends it
    ("python", "import os\n¦\n", "def main():\n    print(os.getcwd())\n\n\ndef other():\n    pass\n", "def main():\n    print(os.getcwd())\n"),
    ("python", "import os\n¦\n", "x = 1\ny = 2\n", "x = 1\ny = 2\n"),
    # -- line mode: the first logical line (an open bracket goes on until it closes)
    ("python", "x = ¦\n", "compute(a,\n        b)\ny = 2\n", "compute(a,\n        b)"),
    ("python", "x = ¦\n", "1\ny = 2\n", "1"),
    ("javascript", "const total = ¦\n", "items.reduce((a, b) => a + b, 0);\nconsole.log(total);\n", "items.reduce((a, b) => a + b, 0);"),
    ("typescript", "let name: string = ¦\n", '"a)b";\nlet y = 2;\n', '"a)b";'),
    # -- brace languages: the brace that closes the block the cursor is in ends it (the suffix has it)
    ("javascript", "function f(x) {\n  ¦\n}\n", "return x * 2;\n}\n\nfunction g() {}\n", "return x * 2;"),
    ("typescript", "class A {\n  m(): number {\n    ¦\n  }\n}\n", "return 1;\n  }\n  n() {}\n", "return 1;"),
    # after the opener itself, the whole body up to the brace that closes it
    ("c", "int f(int x) {¦\n}\n", "\n    if (x) {\n        return 1;\n    }\n    return 0;\n}\nint g;\n", "\n    if (x) {\n        return 1;\n    }\n    return 0;"),
    ("c", "int f(int x) {\n    ¦\n}\n", "if (x) {\n        return 1;\n    }\n    return 0;\n}\nint g;\n", "if (x) {\n        return 1;\n    }"),
    ("cpp", "void f() {\n    ¦\n}\n", "std::cout << \"}\" << std::endl;\n}\n", "std::cout << \"}\" << std::endl;"),
    ("c", "int f(void) {\n    ¦\n}\n", "// a } in a comment\n    return 0;\n}\n", "// a } in a comment\n    return 0;"),
    ("go", "func f() int {\n\t¦\n}\n", "x := 1\n\treturn x\n}\n\nfunc g() {}\n", "x := 1\n\treturn x"),
    ("java", "class A {\n    int f() {\n        ¦\n    }\n}\n", "return 1;\n    }\n\n    int g() {}\n", "return 1;"),
    # a block opened on the cursor's line ends with the brace that closes it: one statement at a time
    ("java", "class A {\n    void f() {\n        ¦\n    }\n}\n", "if (x) {\n            y();\n        }\n        z();\n    }\n", "if (x) {\n            y();\n        }"),
    ("go", "func main() {\n\tfor i := range xs ¦\n}\n", "{\n\t\tfmt.Println(i)\n\t}\n\tfmt.Println()\n", "{\n\t\tfmt.Println(i)\n\t}"),
]


@pytest.mark.parametrize("language, document, raw, expected", CASES)
def test_cut_to_scope_golden(language, document, raw, expected):
    assert cut_to_scope(raw, at(document, language)) == expected
