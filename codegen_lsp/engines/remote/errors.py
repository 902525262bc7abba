"""What the remote engine tells the user when the server fails: messages that say what to change, and
the recognition of a prompt the server found too long (retried shorter)."""

from __future__ import annotations

import json
import re

from ...fim import TEMPLATES
from .transport import CONNECT_TIMEOUT_SECONDS

# How vLLM ("maximum context length"), llama.cpp ("exceeds the available context size") and TGI
# ("`inputs` must have less than N tokens", "`inputs` tokens + `max_new_tokens` must be <= N") word a
# prompt that does not fit.
CONTEXT_OVERFLOW = re.compile(
    r"context (size|length|window)|maximum context|too long|must have less than|max_new_tokens`? must be <=", re.I
)


def is_context_overflow(message: str) -> bool:
    return bool(CONTEXT_OVERFLOW.search(message))


def shorter_prompt(prompt: str) -> str | None:
    """The newer half of the prompt, from a line start when there is one; None when too short to cut or
    when it is a rendered FIM template (cutting its head would cut off the prefix marker)."""
    if len(prompt) < 64 or any(marker in prompt for marker in FIM_MARKERS):
        return None
    half = len(prompt) // 2
    newline = prompt.find("\n", half)
    return prompt[newline + 1 :] if 0 <= newline < len(prompt) - 1 else prompt[half:]


FIM_MARKERS = {marker for template in TEMPLATES for marker in template.markers}


def error_text(payload) -> str:
    """The message in an error body: OpenAI/vLLM/llama.cpp `error.message`, FastAPI `detail`, TGI `error`."""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        for key in ("detail", "message", "error"):
            if payload.get(key):
                return str(payload[key])
    return str(payload)


# Server-supplied text (error messages, model names) is cut to this many characters before it reaches a
# popup or a log line: a server can send megabytes where a sentence is expected.
SHOWN_CHARS = 300


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """Server-supplied text as one line of at most `limit` characters (`...` marks a cut)."""
    line = " ".join(str(text)[: limit * 4].split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def status_error_message(
    status: int, body: str, api_base: str, model: str | None, api_key_env: str, about_model: bool = False
) -> str:
    """about_model: the request only checked the model, so a 400/404/422 means the model was refused."""
    try:
        detail = error_text(json.loads(body))
    except ValueError:
        detail = body.strip()
    detail = shown(detail) or f"HTTP {status}"
    model = shown(model, 100) if model else model
    if status in (401, 403):
        return f"the server at {api_base} refused the API key (HTTP {status}: {detail}); put the key in ${api_key_env}"
    if status in (400, 404, 422) and model and (about_model or "model" in detail.lower()):
        return f"the server at {api_base} rejected model '{model}' (HTTP {status}: {detail}); check codegenLsp.apiModel"
    return f"the server at {api_base} answered HTTP {status}: {detail}"


def transport_error_message(err: Exception, api_base: str, timeout: float) -> str:
    import httpx

    tls = tls_error_message(err, api_base)
    if tls is not None:
        return tls
    if isinstance(err, httpx.ConnectTimeout):
        return f"cannot reach the completion server at {api_base}: no answer within {min(timeout, CONNECT_TIMEOUT_SECONDS):g} s"
    if isinstance(err, httpx.TimeoutException):
        return f"the completion server at {api_base} sent nothing for {timeout:g} s (codegenLsp.requestTimeoutSeconds)"
    if isinstance(err, (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)):
        return f"cannot reach the completion server at {api_base} ({type(err).__name__}: {shown(err)}); is it running?"
    return f"request to the completion server at {api_base} failed: {type(err).__name__}: {shown(err)}"


# A prompt the server finds longer than its context is retried with its newer half, at most this often.
OVERFLOW_RETRIES = 2



def tls_error_message(err: Exception, api_base: str) -> str | None:
    """A certificate the system's CAs do not vouch for: say which setting adds the company's CA."""
    if "CERTIFICATE_VERIFY_FAILED" not in str(err):
        return None
    reason = str(err).split("CERTIFICATE_VERIFY_FAILED]")[-1].split("(_ssl")[0].strip(" :") or "certificate verify failed"
    return (
        f"the certificate of {api_base} is not trusted ({reason}); put your CA's certificate (PEM) in "
        "codegenLsp.caBundle (--ca-bundle)"
    )
