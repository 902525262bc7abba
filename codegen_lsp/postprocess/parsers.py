"""Does this source parse? Python's own parser for Python; tree-sitter for the other languages when the
`quality` extra (tree-sitter-language-pack, which bundles its grammars) is installed; None when there is no
parser to ask, and the heuristic filters have the last word."""

from __future__ import annotations

import ast
import functools
import logging
import warnings

from .. import languages

log = logging.getLogger(__name__)


def parses(source: str, language: str) -> bool | None:
    if language == "python":
        return _python_parses(source)
    parser = tree_sitter_parser(language)
    if parser is None:
        return None
    return not parser.parse(source.encode("utf-8")).root_node.has_error


def _python_parses(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like are not our business
            ast.parse(source)
    except (SyntaxError, ValueError):
        return False
    return True


@functools.lru_cache(maxsize=None)
def tree_sitter_parser(language: str):
    name = languages.language(language).tree_sitter
    if name is None:
        return None
    try:
        from tree_sitter_language_pack import get_parser

        return get_parser(name)
    except ImportError:
        return None
    except Exception as err:  # a grammar missing from this build of the pack: fall back to the heuristics
        log.info("no tree-sitter parser for %s: %s", language, err)
        return None
