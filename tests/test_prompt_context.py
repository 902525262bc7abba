"""The prompt around the code: a header naming the file, snippets of other open documents ranked by
similarity, all measured in tokens within the budget; alternatives for invoked requests."""

import pytest

from codegen_lsp.alternatives import candidate_requests
from codegen_lsp.engines.base import GenerationRequest
from codegen_lsp.prompt import build_prompt, header, line_comment
from codegen_lsp.snippets import Neighbour, neighbours_from, query_of, rank_snippets


def count_words(text: str) -> int:
    """A stand-in tokenizer: one token per whitespace-separated word, plus one per line."""
    return len(text.split()) + text.count("\n")


@pytest.mark.parametrize(
    "language, mark",
    [("python", "#"), ("javascript", "//"), ("typescript", "//"), ("c", "//"), ("cpp", "//"), ("go", "//"), ("java", "//"), ("lua", "--")],
)
def test_header_uses_the_language_comment_syntax(language, mark):
    text = header("/home/someone/project/src/main.x", language)
    assert text.splitlines() == [f"{mark} Path: src/main.x", f"{mark} Language: {language}"]
    assert line_comment(language) == mark


PARSER = Neighbour("/p/parser.py", "python", "def parse_tokens(tokens):\n    for token in tokens:\n        emit(token)\n")
COLOURS = Neighbour("/p/colours.py", "python", "def rgb_to_hsv(r, g, b):\n    maxc = max(r, g, b)\n")
SCRIPT = Neighbour("/p/tokens.js", "javascript", "function parseTokens(tokens) { return tokens; }\n")


def test_snippets_rank_by_shared_identifiers_and_keep_to_the_language():
    query = "def tokenize(text):\n    tokens = split(text)\n    return parse_tokens(tokens)\n"
    ranked = rank_snippets(query, [COLOURS, SCRIPT, PARSER], "python")
    assert [s.path for s in ranked] == ["/p/parser.py"]  # colours shares nothing, tokens.js is JavaScript
    assert "parse_tokens" in ranked[0].text


def test_typescript_and_javascript_share_snippets():
    ranked = rank_snippets("const tokens = parseTokens(input);\n", [SCRIPT], "typescript")
    assert [s.path for s in ranked] == ["/p/tokens.js"]


def test_query_leaves_out_the_line_being_typed():
    assert query_of("a = 1\nb = 2\nc = par") == "a = 1\nb = 2\n"


def test_neighbours_leave_out_the_current_document():
    class Doc:
        def __init__(self, uri, language_id, source):
            self.uri, self.language_id, self.source = uri, language_id, source

    docs = [Doc("file:///p/a.py", "python", "x"), Doc("file:///p/b.ts", "plaintext", "y")]
    assert neighbours_from(docs, "file:///p/a.py") == [Neighbour("/p/b.ts", "typescript", "y")]


def test_prompt_puts_header_and_snippets_before_the_code_within_the_budget():
    prefix = "".join(f"value_{i} = compute({i})\n" for i in range(200)) + "result = parse_tokens("
    snippets = rank_snippets(query_of(prefix) + " parse_tokens tokens", [PARSER], "python")
    budget = 300
    built = build_prompt(prefix, ")\n", "/p/main.py", "python", budget, count_words, snippets)
    assert built.text.startswith("# Path: p/main.py\n# Language: python\n# Compare this snippet from p/parser.py:\n")
    assert "#     for token in tokens:\n" in built.text  # the other file's code is commented out
    assert built.text.endswith("result = parse_tokens(")  # the newest code always survives
    assert count_words(built.text) <= budget
    assert built.snippets == 1 and built.snippet_tokens > 0
    assert built.header_tokens == count_words(header("/p/main.py", "python"))


def test_snippets_never_take_more_than_their_share():
    big = Neighbour("/p/big.py", "python", "\n".join(f"token_{i} = tokens[{i}]" for i in range(20)))
    snippets = rank_snippets("tokens = []\n" + " ".join(f"token_{i}" for i in range(20)), [big], "python")
    built = build_prompt("tokens = []\nx = ", "", "/p/a.py", "python", 40, count_words, snippets)
    assert built.snippets == 0 and "Compare" not in built.text
    assert built.text.endswith("tokens = []\nx = ")


def test_prompt_start_is_stable_while_typing_within_a_line():
    base = "".join(f"line_{i} = {i}\n" for i in range(400))

    def start_of(typed: str) -> str:
        built = build_prompt(base + typed, "", "/p/a.py", "python", 500, count_words, [])
        return built.text[:200]

    assert start_of("x = f") == start_of("x = foo(b")


def test_invoked_requests_add_sampled_alternatives_with_distinct_seeds():
    request = GenerationRequest(prompt="x = ", max_new_tokens=8)
    requests = candidate_requests(request, 3)
    assert requests[0] == request  # the greedy answer the user would have seen anyway comes first
    assert all(r.temperature > 0 and r.prompt == "x = " for r in requests[1:])
    assert len({r.seed for r in requests[1:]}) == 2
    assert candidate_requests(request, 1) == [request]
