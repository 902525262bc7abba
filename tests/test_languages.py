"""languages.py: one record per language, and the modules that read it agree."""

import pytest

from codegen_lsp import languages
from codegen_lsp.context import language_of
from codegen_lsp.languages import DEFAULT, LANGUAGES, Scoping, language
from codegen_lsp.postprocess.lexer import scan
from codegen_lsp.prompt import header, line_comment
from codegen_lsp.snippets import same_family


def test_ids_aliases_and_extensions_name_one_record_each():
    names = [record.id for record in LANGUAGES] + [alias for record in LANGUAGES for alias in record.aliases]
    assert len(names) == len(set(names))
    extensions = [extension for record in LANGUAGES for extension in record.extensions]
    assert len(extensions) == len(set(extensions))
    assert all(extension == extension.lower() and extension.startswith(".") for extension in extensions)


def test_every_record_can_write_a_comment():
    for record in LANGUAGES:
        assert record.line_comments or record.block_comments, record.id


@pytest.mark.parametrize("editor_id, record_id", [
    ("sh", "shellscript"), ("bash", "shellscript"), ("zsh", "shellscript"), ("cs", "csharp"), ("objc", "objective-c"),
    ("lua", "lua"),
])
def test_other_editors_ids_name_the_same_language(editor_id, record_id):
    assert language(editor_id).id == record_id
    assert language_of(editor_id, "/src/x") == record_id


def test_an_unknown_language_keeps_its_id_and_gets_the_c_like_default():
    record = language("brainfuck")
    assert record.id == "brainfuck" and record.line_comments == DEFAULT.line_comments
    assert language_of("brainfuck", "/src/x.bf") == "brainfuck"
    assert line_comment("brainfuck") == "//"


@pytest.mark.parametrize("path, expected", [
    ("/a/Main.hs", "haskell"), ("/a/run.BASH", "shellscript"), ("/a/build.kts", "kotlin"), ("/a/x.yml", "yaml"),
    ("/a/x.unknown", "plaintext"),
])
def test_extension_decides_for_a_generic_id(path, expected):
    assert language_of("plaintext", path) == expected


def test_snippet_families_follow_the_table_and_its_aliases():
    assert same_family("typescriptreact", "javascript")
    assert same_family("cuda-cpp", "c")
    assert same_family("sh", "shellscript")  # Neovim's shell buffer borrows from VS Code's id
    assert not same_family("python", "javascript")


def test_the_prompt_comments_in_each_languages_own_syntax():
    assert header("/src/a.lua", "lua").startswith("-- Path:")
    assert header("/src/a.html", "html") == "<!-- Path: src/a.html -->\n<!-- Language: html -->\n"
    # a block comment's closer inside the text cannot end the comment early
    assert languages.language("css").comment("a */ b") == "/* a * / b */"


@pytest.mark.parametrize("language_id, text, depth", [
    ("rust", "let c = '{';", 0),  # a character literal hides its bracket
    ("rust", "let c = '\\'';  (", 1),  # an escaped quote in a character literal
    ("rust", "impl<'a> Foo<'a> for Bar(", 1),  # lifetimes are code
    ("lua", "local s = [[ ( ]] (", 1),  # a long string spans its brackets
    ("lua", "--[[ ( ]] (", 1),  # a block comment, not a line comment
    ("haskell", "{- ( -} (", 1),  # Haskell's block comment is not a brace
    ("shellscript", "echo $# ${#a[@]} # (", 0),  # `$#` and `${#` are code; ` #` starts a comment
    ("python", "x = '#' # (", 0),
    ("c", "x = a / b; // (", 0),
])
def test_lexer_reads_each_languages_comments_and_strings(language_id, text, depth):
    assert scan(text, language_id).depth == depth


def test_blocks_end_by_keyword_indentation_or_brace():
    assert language("lua").scoping is Scoping.KEYWORDS and language("ruby").scoping is Scoping.KEYWORDS
    assert language("python").scoping is Scoping.INDENTATION and language("haskell").scoping is Scoping.INDENTATION
    assert language("rust").scoping is Scoping.BRACES and language("sql").scoping is Scoping.BRACES
