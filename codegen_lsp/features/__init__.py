"""What the server does, one feature per kind of work, each registered on the server by `create_server`:
`SessionFeature` (initialize, settings, shutdown), `CompletionFeature` (inline and classic completion),
`AcceptanceFeature` (what the user did with the items) and `StatusFeature` (`codegen/stats`, `codegen/documentText`).
"""

from .acceptance import AcceptanceFeature
from .base import Handler, LanguageFeature, as_function
from .completion import CompletionFeature
from .session import SessionFeature
from .status import StatusFeature

__all__ = ["AcceptanceFeature", "CompletionFeature", "Handler", "LanguageFeature", "SessionFeature", "StatusFeature", "as_function"]
