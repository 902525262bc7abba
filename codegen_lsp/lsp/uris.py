"""Which document a URI names: the URI as the client sent it, up to what RFC 3986 calls equivalent.

pygls keyed documents by `urllib.parse.unquote(uri)`, which made different URIs one document:
`file:///src/x%2Fy.py` (one path segment `x%2Fy.py` under `src`) and `file:///src/x/y.py` (`y.py` under
`src/x`), or `untitled:a%23b` and `untitled:a#b` (the second has a fragment). Every place that keeps something per
document (the open documents, snippets' "other documents", typed-through state) uses `uri_key` instead.

RFC 3986 section 6.2.2 (syntax-based normalization) makes equal only: the case of the scheme and of the host,
the case of the hex digits in a percent-escape, and a percent-escape of an unreserved character
(`A-Z a-z 0-9 - . _ ~`) with that character. Nothing else is touched: a reserved character and its escape
(`/` and `%2F`, `#` and `%23`, `?` and `%3F`, `:` and `%3A`) stay different, as do non-ASCII characters
and their UTF-8 escapes (an IRI is not a URI; one client always spells a URI the same way).
"""

from __future__ import annotations

import re

ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _normal_escape(match: re.Match) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in UNRESERVED else "%" + match.group(1).upper()


def uri_key(uri: str) -> str:
    """The URI with only the RFC 3986 equivalences applied: two URIs name one document exactly when their
    keys are equal."""
    key = ESCAPE.sub(_normal_escape, uri)
    scheme = SCHEME.match(key)
    if scheme is None:
        return key
    key = scheme.group(1).lower() + key[scheme.end(1) :]
    if key[scheme.end() : scheme.end() + 2] != "//":
        return key
    start = scheme.end() + 2
    end = next((i for i, c in enumerate(key) if i >= start and c in "/?#"), len(key))
    authority = key[start:end]
    at = authority.rfind("@") + 1  # userinfo is case-sensitive; the host is not
    return key[: start + at] + authority[at:].lower() + key[end:]
