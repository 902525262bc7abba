"""fit.fit_before_code: with code after the cursor, only what fits before it."""

import pytest

from codegen_lsp.postprocess.fit import fit_before_code
from golden import at

CASES = [
    # (language, document, raw model text, expected)
    ("python", "result = compute(¦, b)\n", "a, b)\nprint(result)\n", "a"),
    ("python", "result = compute(¦, b)\n", "a)", "a"),  # its `)` is the suffix's
    ("python", "result = compute(¦, b)\n", "len(items)", "len(items)"),  # a bracket it opened and closed
    ("python", "if x ¦ y:\n", "and not y:", "and not"),  # stops where it repeats the code after the cursor
    ("javascript", "const sum = add(¦, 2);\n", "1, 2);\n", "1"),
    ("typescript", "foo(¦, bar);\n", "first", "first"),
    ("c", "printf(\"%d\\n\", ¦, y);\n", "x, y);", "x"),
    ("cpp", "auto v = std::max(¦, b);\n", "a + 1, b);", "a + 1"),
    ("go", "if err := f(¦); err != nil {\n", "ctx); err != nil {", "ctx"),
    ("java", "String s = String.format(¦, name);\n", "\"%s!\", name);", "\"%s!\""),
    # nothing after the cursor: untouched
    ("python", "x = ¦\n", "a)\n", "a)\n"),
]


@pytest.mark.parametrize("language, document, raw, expected", CASES)
def test_fit_before_code_golden(language, document, raw, expected):
    assert fit_before_code(raw, at(document, language)) == expected
