"""indentation.match_indentation: the completion is indented like the document (tabs or spaces, width)."""

import pytest

from codegen_lsp.postprocess.indentation import match_indentation
from golden import at

CASES = [
    # (language, document, raw model text, expected)
    # four-space model output in a tab-indented file
    ("python", "def f(x):\n\tif x:¦\n\treturn 0\n", "\n        return 1\n        y = 2", "\n\t\treturn 1\n\t\ty = 2"),
    ("go", "func f() {\n\tfor {¦\n\t}\n}\n", "\n        if x {\n            break\n        }", "\n\t\tif x {\n\t\t\tbreak\n\t\t}"),
    ("c", "int f(void) {\n\t¦\n}\n", "if (x) {\n        y();\n    }", "if (x) {\n\t\ty();\n\t}"),
    # four-space model output in a two-space file
    ("javascript", "function f() {\n  if (x) {¦\n  }\n}\n", "\n      y();\n      if (z) {\n          w();\n      }", "\n    y();\n    if (z) {\n      w();\n    }"),
    ("typescript", "class A {\n  m() {¦\n  }\n}\n", "\n      return 1;", "\n    return 1;"),
    # tabs from the model in a four-space file
    ("java", "class A {\n    void f() {¦\n    }\n}\n", "\n\t\tg();\n\t\tif (x) {\n\t\t\th();\n\t\t}", "\n        g();\n        if (x) {\n            h();\n        }"),
    # already right: untouched
    ("python", "def f(x):\n    if x:¦\n", "\n        return 1\n    return 0", "\n        return 1\n    return 0"),
    ("cpp", "void f() {\n  int a;\n  ¦\n}\n", "if (x) {\n    y();\n  }", "if (x) {\n    y();\n  }"),
    ("python", "x = 1¦\n", "2", "2"),  # one line: nothing to indent
]


@pytest.mark.parametrize("language, document, raw, expected", CASES)
def test_match_indentation_golden(language, document, raw, expected):
    assert match_indentation(raw, at(document, language)) == expected
