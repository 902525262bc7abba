"""What the server does, one feature per kind of work, each registered on the server by `create_server`:
`SessionFeature` (initialize, settings, shutdown), `CompletionFeature` (inline and classic completion),
`AcceptanceFeature` (what the user did with the items), `StatusFeature` (`codegen/stats`, `codegen/documentText`)
and `ProjectContextFeature` (the workspace index behind the prompt's project context).
"""

from .acceptance import AcceptanceFeature
from .base import Handler, LanguageFeature, as_function
from .completion import CompletionFeature
from .project_context import ProjectContextFeature
from .session import SessionFeature
from .status import StatusFeature

__all__ = ["AcceptanceFeature", "CompletionFeature", "Handler", "LanguageFeature", "ProjectContextFeature",
           "SessionFeature", "StatusFeature", "as_function"]
