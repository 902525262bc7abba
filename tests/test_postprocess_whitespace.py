"""whitespace.trim: no trailing spaces, nothing that is only whitespace; leading text is never touched."""

import pytest

from codegen_lsp.postprocess.whitespace import trim
from golden import at

CASES = [
    # (language, document, raw model text, expected)
    ("python", "def f():¦\n", "\n    return 1   \n\n", "\n    return 1"),
    ("python", "x = ¦\n", "  \n\t", ""),
    ("javascript", "const a = ¦\n", "1;  ", "1;"),
    ("typescript", "let s = ¦\n", "\"a  \"", "\"a  \""),  # spaces inside a string are code
    ("c", "int main() {¦\n}\n", "\n    return 0; \t", "\n    return 0;"),
    ("cpp", "auto x = ¦\n", " y;", " y;"),  # a leading space after `=` is the user's business
    ("go", "func f() {¦\n}\n", "\n\tx := 1  \n\ty := 2 ", "\n\tx := 1\n\ty := 2"),
    ("java", "int x = ¦\n", "\n\n", ""),
]


@pytest.mark.parametrize("language, document, raw, expected", CASES)
def test_trim_golden(language, document, raw, expected):
    assert trim(raw, at(document, language)) == expected
