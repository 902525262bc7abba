"""What codegen-lsp knows about each language, in one table: one record per language.

Every module that needs a language's syntax asks here — the prompt (which comment marks the header and the
other files' snippets), the lexer (comments and strings, so that brackets inside them do not count), the scope
filter (indentation, braces or `end` keywords), the snippets (which languages may borrow from each other),
the parser (the tree-sitter grammar) and the cursor context (file extension → language). Before this table
those modules each kept their own list and disagreed (the prompt commented Lua with `--` while the lexer read
Lua's `//`, integer division, as a comment).

Ids are the LSP language ids VS Code sends; `aliases` are the ids other editors send for the same language
(Neovim sends its filetype: `sh`, `bash`, `cs`, `objc` ...). An id with no record gets `DEFAULT`, C-like syntax,
which is what every module assumed for unknown languages before.
"""

from __future__ import annotations

import functools
import posixpath
from dataclasses import dataclass, replace
from enum import Enum


class Scoping(Enum):
    """How a block of code ends, which says where the scope filter cuts a block completion."""

    INDENTATION = "indentation"  # Python, YAML, Haskell: at the first line that dedents below the block
    BRACES = "braces"  # the C family, JavaScript, Go, Rust ...: at the bracket that closes the block
    KEYWORDS = "keywords"  # Lua, Ruby, shell, Elixir: `end`/`fi`/`done` sit at the opener's indentation, so
    # the block ends, as with indentation, at the first line that dedents below it


@dataclass(frozen=True)
class Language:
    id: str  # the LSP language id
    extensions: tuple[str, ...] = ()  # lower case, with the dot; the first is the usual one
    aliases: tuple[str, ...] = ()  # other editors' ids for the same language
    line_comments: tuple[str, ...] = ("//",)  # the first one writes the prompt's comments
    block_comments: tuple[tuple[str, str], ...] = (("/*", "*/"),)  # (opener, closer)
    quotes: tuple[str, ...] = ('"', "'")  # one-line string (and character) delimiters: each closes itself
    multiline_strings: tuple[tuple[str, str], ...] = ()  # (opener, closer) of strings that span lines
    char_literals: bool = False  # `'` only delimits a character literal ('x', '\n'); a lone `'` is code
    # (Rust's lifetimes `'a`, Haskell's primes `foldl'`)
    comments_start_words: bool = False  # a line comment marker counts only where a word starts (shell:
    # `${#files[@]}` and `$#` are not comments)
    scoping: Scoping = Scoping.BRACES
    family: str = ""  # languages of one family share snippets (TypeScript borrows from JavaScript); "" = id
    tree_sitter: str | None = None  # the grammar's name in tree-sitter-language-pack; None: no parser

    @property
    def snippet_family(self) -> str:
        return self.family or self.id

    def comment(self, text: str) -> str:
        """`text` (one line) as a comment of this language: a line comment, or a block comment where the
        language has no line comments (CSS, HTML)."""
        if self.line_comments:
            return f"{self.line_comments[0]} {text}".rstrip()
        opener, closer = self.block_comments[0]
        return " ".join(part for part in (opener, text.replace(closer, " ".join(closer)), closer) if part)


HASH = ("#",)
TRIPLE_QUOTES = (('"""', '"""'), ("'''", "'''"))
TRIPLE_DOUBLE = (('"""', '"""'),)
BACKTICK = (("`", "`"),)

LANGUAGES = (
    # -- indentation-scoped
    Language("python", (".py", ".pyi", ".pyw"), line_comments=HASH, block_comments=(), multiline_strings=TRIPLE_QUOTES,
             scoping=Scoping.INDENTATION, tree_sitter="python"),
    Language("yaml", (".yaml", ".yml"), line_comments=HASH, block_comments=(), scoping=Scoping.INDENTATION,
             tree_sitter="yaml"),
    Language("haskell", (".hs",), line_comments=("--",), block_comments=(("{-", "-}"),), quotes=('"',),
             char_literals=True, scoping=Scoping.INDENTATION, tree_sitter="haskell"),
    Language("coffeescript", (".coffee",), aliases=("coffee",), line_comments=HASH, block_comments=(("###", "###"),),
             quotes=('"', "'", "`"), multiline_strings=TRIPLE_QUOTES, scoping=Scoping.INDENTATION),
    Language("nim", (".nim",), line_comments=HASH, block_comments=(("#[", "]#"),), multiline_strings=TRIPLE_DOUBLE,
             scoping=Scoping.INDENTATION),
    Language("fsharp", (".fs", ".fsx", ".fsi"), block_comments=(("(*", "*)"),), quotes=('"',),
             multiline_strings=TRIPLE_DOUBLE, scoping=Scoping.INDENTATION),
    # -- blocks closed by keywords (`end`, `fi`, `done`)
    Language("lua", (".lua",), line_comments=("--",), block_comments=(("--[[", "]]"),),
             multiline_strings=(("[[", "]]"),), scoping=Scoping.KEYWORDS, tree_sitter="lua"),
    Language("ruby", (".rb", ".rake", ".gemspec"), line_comments=HASH, block_comments=(), quotes=('"', "'", "`"),
             scoping=Scoping.KEYWORDS, tree_sitter="ruby"),
    Language("shellscript", (".sh", ".bash", ".zsh"), aliases=("sh", "bash", "zsh"), line_comments=HASH,
             block_comments=(), quotes=('"', "'", "`"), comments_start_words=True, scoping=Scoping.KEYWORDS,
             tree_sitter="bash"),
    Language("elixir", (".ex", ".exs"), line_comments=HASH, block_comments=(), multiline_strings=TRIPLE_QUOTES,
             scoping=Scoping.KEYWORDS),
    Language("julia", (".jl",), line_comments=HASH, block_comments=(("#=", "=#"),), quotes=('"',),
             multiline_strings=TRIPLE_DOUBLE, scoping=Scoping.KEYWORDS),
    # -- brace-scoped: the C family
    Language("c", (".c", ".h"), family="c", tree_sitter="c"),
    Language("cpp", (".cpp", ".cc", ".cxx", ".hpp", ".hh", ".hxx"), family="c", tree_sitter="cpp"),
    Language("objective-c", (".m",), aliases=("objc",), family="c"),
    Language("objective-cpp", (".mm",), aliases=("objcpp",), family="c"),
    Language("cuda-cpp", (".cu", ".cuh"), aliases=("cuda",), family="c"),
    Language("csharp", (".cs",), aliases=("cs",), multiline_strings=TRIPLE_DOUBLE, tree_sitter="csharp"),
    Language("java", (".java",), multiline_strings=TRIPLE_DOUBLE, tree_sitter="java"),
    Language("go", (".go",), multiline_strings=BACKTICK, tree_sitter="go"),
    Language("rust", (".rs",), quotes=('"',), char_literals=True, tree_sitter="rust"),
    Language("kotlin", (".kt", ".kts"), multiline_strings=TRIPLE_DOUBLE, tree_sitter="kotlin"),
    Language("swift", (".swift",), quotes=('"',), multiline_strings=TRIPLE_DOUBLE, tree_sitter="swift"),
    Language("scala", (".scala", ".sc"), multiline_strings=TRIPLE_DOUBLE, tree_sitter="scala"),
    Language("dart", (".dart",), multiline_strings=TRIPLE_QUOTES),
    Language("php", (".php",), line_comments=("//", "#"), quotes=('"', "'", "`"), tree_sitter="php"),
    # -- JavaScript and TypeScript: one family
    Language("javascript", (".js", ".mjs", ".cjs"), quotes=('"', "'"), multiline_strings=BACKTICK,
             family="javascript", tree_sitter="javascript"),
    Language("javascriptreact", (".jsx",), quotes=('"', "'"), multiline_strings=BACKTICK, family="javascript",
             tree_sitter="javascript"),
    Language("typescript", (".ts", ".mts", ".cts"), quotes=('"', "'"), multiline_strings=BACKTICK,
             family="javascript", tree_sitter="typescript"),
    Language("typescriptreact", (".tsx",), quotes=('"', "'"), multiline_strings=BACKTICK, family="javascript",
             tree_sitter="tsx"),
    # -- others with brackets only
    Language("sql", (".sql",), line_comments=("--",), quotes=("'", '"', "`")),
    Language("perl", (".pl", ".pm"), line_comments=HASH, block_comments=(), quotes=('"', "'", "`")),
    Language("r", (".r",), line_comments=HASH, block_comments=(), quotes=('"', "'", "`")),
    Language("powershell", (".ps1", ".psm1"), aliases=("ps1",), line_comments=HASH, block_comments=(("<#", "#>"),)),
    Language("toml", (".toml",), line_comments=HASH, block_comments=(), multiline_strings=TRIPLE_QUOTES),
    Language("makefile", (".mk",), aliases=("make",), line_comments=HASH, block_comments=(),
             quotes=('"', "'", "`")),
    Language("dockerfile", (".dockerfile",), line_comments=HASH, block_comments=()),
    Language("css", (".css",), line_comments=()),
    Language("scss", (".scss",)),
    Language("less", (".less",)),
    Language("html", (".html", ".htm"), line_comments=(), block_comments=(("<!--", "-->"),)),
)

# What every module assumed for a language it did not know: `//` and `/* */` comments, three kinds of quotes.
DEFAULT = Language("", quotes=('"', "'", "`"))

_BY_ID = {record.id: record for record in LANGUAGES}
_BY_ID.update({alias: record for record in LANGUAGES for alias in record.aliases})
_BY_EXTENSION = {extension: record for record in LANGUAGES for extension in record.extensions}


@functools.lru_cache(maxsize=256)
def language(language_id: str) -> Language:
    """The record of a language id (or an alias of one); DEFAULT, under that id, for one we do not know."""
    found = _BY_ID.get(language_id)
    return found if found is not None else replace(DEFAULT, id=language_id)


def known(language_id: str) -> bool:
    """Is there a record for this id (else the filters know nothing of its syntax)?"""
    return language_id in _BY_ID


def canonical_id(language_id: str) -> str:
    """One id per language whichever editor sent it (`sh` and `bash` → `shellscript`)."""
    found = _BY_ID.get(language_id)
    return found.id if found is not None else language_id


def language_for_path(path: str) -> Language | None:
    return _BY_EXTENSION.get(posixpath.splitext(path)[1].lower())
