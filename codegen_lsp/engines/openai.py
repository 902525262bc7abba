"""The remote engine: generation on an OpenAI-compatible server (vLLM, llama.cpp's llama-server, TGI,
`transformers serve`) through `POST {api_base}/completions` with `stream: true`.

Everything else (documents, context, prompt, cache, post-processing) stays in codegen-lsp. Generation
streams so that a stop sequence, the caller's stop check or a cancellation can close the connection
mid-way: every server tested here stops generating when its client goes away.

Token budgeting without the model in process: the model's own tokenizer when one loads from a local
directory or the Hugging Face cache (AutoTokenizer, tokenizer files only), else a conservative estimate of
CHARS_PER_TOKEN characters per token (it overestimates the tokens of code, so prompts come out shorter
than the window, never longer).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import math
import os
import re
import ssl
import threading
import time
from contextlib import aclosing, suppress
from typing import AsyncIterator, Iterable

from ..fim import TEMPLATES
from ..settings import DEFAULT_MODEL, Settings
from .base import CancelToken, EngineError, Generation, GenerationRequest, ProgressFn, StopCheck

log = logging.getLogger(__name__)

# Code tokenizers average 3-4 characters per token; assuming fewer keeps an estimated prompt inside the window.
CHARS_PER_TOKEN = 2.5
# When neither the server nor a local config says how long the model's context is.
DEFAULT_CONTEXT_WINDOW = 2048
# Connecting should be quick; a longer wait means the host is gone (the read timeout is the setting).
CONNECT_TIMEOUT_SECONDS = 5.0
# How often the model thread looks at the cancel token while it waits for the next streamed chunk.
CANCEL_POLL_SECONDS = 0.02
# llama.cpp's /infill keeps only ~n_batch/4 tokens of suffix itself; sending more is wasted bytes.
INFILL_SUFFIX_CHARS = 4096
# A prompt the server finds longer than its context is retried with its newer half, at most this often.
OVERFLOW_RETRIES = 2
# How vLLM ("maximum context length"), llama.cpp ("exceeds the available context size") and TGI
# ("`inputs` must have less than N tokens", "`inputs` tokens + `max_new_tokens` must be <= N") word a
# prompt that does not fit.
CONTEXT_OVERFLOW = re.compile(
    r"context (size|length|window)|maximum context|too long|must have less than|max_new_tokens`? must be <=", re.I
)

FIM_MARKERS = {marker for template in TEMPLATES for marker in template.markers}
# A shared server that is overloaded says so with 429 (rate limit) or 503 (no capacity), often with Retry-After.
OVERLOADED = (429, 503)
# Without Retry-After: wait 1, 2, 4 ... seconds, at most 30; a Retry-After beyond 5 minutes is capped there.
BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS, RETRY_AFTER_MAX_SECONDS = 1.0, 30.0, 300.0


class OpenAIEngine:
    name = "openai"

    def __init__(self, settings: Settings) -> None:
        if not settings.api_base:
            raise EngineError("the openai engine needs a server: set codegenLsp.apiBase (or --api-base)")
        self.settings = settings
        self.api_base = settings.api_base.rstrip("/")
        self.model_name: str | None = settings.api_model
        self.context_window = DEFAULT_CONTEXT_WINDOW
        self.tokenizer = None  # a transformers tokenizer, or None for the estimate
        self.infill = False  # llama.cpp's /infill serves fill-in-the-middle for this model
        self.server_kind = "openai"  # "llamacpp" when its /models says so: it takes cache_prompt, caps n at its slots
        self.max_choices: int | None = None  # most choices one request may ask for (llama.cpp: its parallel slots)
        self.backoff = Backoff()
        self._loop = asyncio.new_event_loop()  # driven by whichever thread calls (the one model thread)
        self._client = None

    # -- loading -------------------------------------------------------------------------------------
    def load(self, report: ProgressFn) -> None:
        """Check that the server answers and accepts the model; learn its context window and FIM support."""
        self._client = http_client(self.settings)
        try:
            report(f"connecting to {self.api_base}", 10)
            models = self._loop.run_until_complete(self._list_models())
            entries = models.get("data") if isinstance(models, dict) else None
            entries = entries if isinstance(entries, list) else []
            if not self.model_name:
                self.model_name = first_model_id(entries)
            if not self.model_name:
                raise EngineError(f"the server at {self.api_base} lists no model; set codegenLsp.apiModel (or --api-model)")
            self.server_kind = server_kind(entries)
            if self.server_kind == "llamacpp":
                self.max_choices = self._loop.run_until_complete(self._llama_slots())
            report(f"checking model '{self.model_name}'", 40)
            self._loop.run_until_complete(self._probe_completion())
            self.infill = self._loop.run_until_complete(self._probe_infill(entries))
            report("loading tokenizer", 70)
            self.tokenizer, config_window = load_local_tokenizer(self.tokenizer_candidates())
            self.context_window = served_context_window(entries, self.model_name) or config_window or DEFAULT_CONTEXT_WINDOW
        except BaseException:
            self.close()
            raise
        how = "the model's tokenizer" if self.tokenizer is not None else f"~{CHARS_PER_TOKEN} chars/token estimate"
        log.info(
            "remote model '%s' at %s: context %d tokens, token counts from %s%s",
            self.model_name, self.api_base, self.context_window, how, ", FIM through /infill" if self.infill else "",
        )
        report("ready", 100)

    @property
    def fills_in_the_middle(self) -> bool:
        """The server builds FIM prompts itself (llama.cpp's /infill): the caller sends plain prefix + suffix.
        Otherwise the caller may render a FIM template for the model's tokenizer into the prompt (vLLM, TGI)."""
        return self.infill

    def tokenizer_candidates(self) -> list[str]:
        """Where a tokenizer may come from: the model setting when the user set one, then the served name."""
        names = [self.settings.model] if self.settings.model != DEFAULT_MODEL else []
        if self.model_name and self.model_name not in names:
            names.append(self.model_name)
        return names

    async def _list_models(self):
        """GET /models; a server without it is fine when the settings name the model (the probe decides)."""
        response = await self._request("GET", f"{self.api_base}/models")
        if response.status_code >= 400 and self.model_name:
            log.info("GET %s/models answered HTTP %d; going on with '%s'", self.api_base, response.status_code, self.model_name)
            return None
        self._check_status(response)
        try:
            return response.json()
        except ValueError:
            return None

    async def _probe_completion(self) -> None:
        """One token for a one-character prompt: the server must accept the model name and the request."""
        body = {"model": self.model_name, "prompt": "\n", "max_tokens": 1, "temperature": 0.0, "stream": False}
        await self._send("POST", f"{self.api_base}/completions", json=body, about_model=True)

    async def _probe_infill(self, entries: list) -> bool:
        """Only llama.cpp offers /infill, and only for models with FIM tokens: ask it once."""
        if not any(isinstance(e, dict) and e.get("owned_by") == "llamacpp" for e in entries):
            return False
        body = {"input_prefix": "", "input_suffix": "", "n_predict": 1, "stream": False}
        try:
            await self._send("POST", f"{server_root(self.api_base)}/infill", json=body)
        except EngineError as err:
            log.info("no fill-in-the-middle through /infill: %s", err)
            return False
        return True

    async def _send(self, method: str, url: str, about_model: bool = False, **kwargs):
        """One plain request; every failure becomes an EngineError that says what to do."""
        response = await self._request(method, url, **kwargs)
        self._check_status(response, about_model)
        return response

    async def _request(self, method: str, url: str, **kwargs):
        import httpx

        try:
            return await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as err:
            raise EngineError(transport_error_message(err, self.api_base, self.settings.request_timeout_seconds)) from err

    def _check_status(self, response, about_model: bool = False) -> None:
        if response.status_code >= 400:
            raise self._status_error(response, about_model)

    def _status_error(self, response, about_model: bool = False) -> EngineError:
        """An overload answer starts a backoff (ServerBusy, one message); anything else says what failed."""
        if response.status_code in OVERLOADED:
            wait = self.backoff.overloaded(retry_after_seconds(response.headers.get("retry-after")))
            log.warning("the server answered HTTP %d; no requests for %.1f s", response.status_code, wait)
            return ServerBusy(overloaded_message(self.api_base), wait)
        return EngineError(self._status_message(response.status_code, response.text, about_model))

    async def _llama_slots(self) -> int | None:
        """llama.cpp's /props says how many parallel slots it has: `n` (n_cmpl) may not exceed them."""
        with suppress(EngineError, ValueError, TypeError, AttributeError):
            response = await self._request("GET", f"{server_root(self.api_base)}/props")
            slots = response.json().get("total_slots") if response.status_code == 200 else None
            return slots if isinstance(slots, int) and slots > 0 else None
        return None

    def _status_message(self, status: int, body: str, about_model: bool = False) -> str:
        return status_error_message(
            status, body, self.api_base, self.model_name, self.settings.api_key_env, about_model
        )

    # -- tokens --------------------------------------------------------------------------------------
    def count_tokens(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False))
        return estimate_tokens(text)

    def max_token_chars(self) -> int:
        if self.tokenizer is not None:
            # A token's vocabulary string is at least as long as the text it decodes to (byte-level BPE and
            # SentencePiece spell each character or byte with one or more symbols).
            return max((len(t) for t in self.tokenizer.get_vocab()), default=64)
        return math.ceil(CHARS_PER_TOKEN)

    # -- generation ----------------------------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> Generation:
        self._ready_to_send()
        retries = OVERFLOW_RETRIES
        while True:
            result = Generation(text="", finish_reason="length")
            if cancel.cancelled:
                result.finish_reason = "cancelled"
                return result
            try:
                result = self._loop.run_until_complete(self._generate(request, cancel, should_stop, result))
                self.backoff.succeeded()
                return result
            except EngineError as err:
                shorter = shorter_prompt(request.prompt)
                if not retries or shorter is None or not is_context_overflow(str(err)):
                    raise
                # Token counts were estimated (or the server's window is smaller than it said): keep the newer half.
                log.warning("the server found the prompt too long; retrying with its last %d characters", len(shorter))
                request, retries = dataclasses.replace(request, prompt=shorter), retries - 1

    async def _generate(self, request, cancel: CancelToken, should_stop, result: Generation) -> Generation:
        """Stream on a task; when the cancel token is set, cancel the task: that closes the connection."""
        task = asyncio.ensure_future(self._stream(request, cancel, should_stop, result))
        while not task.done():
            await asyncio.wait({task}, timeout=CANCEL_POLL_SECONDS)
            if cancel.cancelled and not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
                result.finish_reason = "cancelled"
                return result
        return task.result()

    async def _stream(self, request: GenerationRequest, cancel: CancelToken, should_stop, result: Generation) -> Generation:
        import httpx

        url, body = self._endpoint(request)
        try:
            async with self._client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise self._status_error(response)
                # Returning from inside these blocks closes the connection: the server stops generating.
                async with aclosing(response.aiter_lines()) as lines, aclosing(sse_events(lines)) as events:
                    return await read_stream(events, request, cancel, should_stop, result)
        except httpx.HTTPError as err:
            raise EngineError(transport_error_message(err, self.api_base, self.settings.request_timeout_seconds)) from err

    def _endpoint(self, request: GenerationRequest, n: int = 1) -> tuple[str, dict]:
        """Where a request goes and what it says: /infill (llama.cpp, with a suffix) or /completions."""
        if self.infill and request.suffix.strip():
            url, body = f"{server_root(self.api_base)}/infill", infill_body(request)
        else:
            url, body = f"{self.api_base}/completions", completion_body(request, self.model_name)
        return url, for_server(body, self.server_kind, n)

    def _ready_to_send(self) -> None:
        if self._client is None:
            raise EngineError(f"not connected to {self.api_base}")
        if self.backoff.remaining() > 0:  # the server asked for a pause: do not add to its load
            raise ServerBusy(overloaded_message(self.api_base), self.backoff.remaining())

    # -- alternatives: one request with n ------------------------------------------------------------------
    def generate_many(
        self, requests: list[GenerationRequest], cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> list[Generation]:
        """Requests that differ only in their seed (sampled alternatives) go as ONE request with `n` (vLLM
        batches the choices; llama.cpp decodes them on parallel slots after one prefill); any other request
        goes alongside, at the same time. A server that ignores `n` (transformers serve) gets the missing
        choices as separate requests, sent together."""
        self._ready_to_send()
        cancelled = [Generation(text="", finish_reason="cancelled") for _ in requests]
        if cancel.cancelled:
            return cancelled
        groups = seed_groups(requests, self.max_choices)

        async def run_all() -> list[Generation]:
            parts = await asyncio.gather(*(self._group(requests[g[0]], len(g), cancel, should_stop) for g in groups))
            out = [Generation(text="", finish_reason="eos") for _ in requests]
            for indices, generations in zip(groups, parts):
                for index, generation in zip(indices, generations):
                    out[index] = generation
            return out

        results = self._loop.run_until_complete(self._cancellable(run_all(), cancel))
        if results is None:
            return cancelled
        self.backoff.succeeded()
        return results

    async def _group(self, request: GenerationRequest, n: int, cancel: CancelToken, should_stop) -> list[Generation]:
        """One request for n choices of `request` (streamed as usual when n is 1)."""
        if n == 1:
            return [await self._stream(request, cancel, should_stop, Generation(text="", finish_reason="length"))]
        url, body = self._endpoint(request, n)
        body["stream"] = False  # the choices end together; a cancel still closes the connection
        if self.server_kind == "llamacpp":
            body.pop("seed", None)  # its parallel slots would share the seed and sample the same text
        response = await self._request("POST", url, json=body)
        self._check_status(response)
        try:
            payload = response.json()
        except ValueError as err:
            raise EngineError(f"the server at {self.api_base} sent an unreadable answer: {err}") from err
        generations = [choice_generation(text, finish, request) for text, finish in parse_choices(payload)[:n]]
        if len(generations) < n:  # `n` ignored: ask for the rest one by one, all at once
            log.info("the server answered %d of %d choices; asking for the rest separately", len(generations), n)
            self.max_choices = 1
            seeds = [dataclasses.replace(request, seed=(request.seed or 0) + k) for k in range(len(generations), n)]
            more = await asyncio.gather(*(self._group(r, 1, cancel, should_stop) for r in seeds))
            generations += [g for part in more for g in part]
        return generations

    async def _cancellable(self, coroutine, cancel: CancelToken):
        """Run on a task; when the cancel token is set, cancel the task (closing its connections): None."""
        task = asyncio.ensure_future(coroutine)
        while not task.done():
            await asyncio.wait({task}, timeout=CANCEL_POLL_SECONDS)
            if cancel.cancelled and not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
                return None
        return task.result()

    def close(self) -> None:
        client, self._client = self._client, None
        if self._loop.is_closed() or self._loop.is_running():  # running: a request streams at shutdown
            return

        def shut() -> None:
            with suppress(Exception):
                if client is not None:
                    self._loop.run_until_complete(client.aclose())
                # httpx's inner byte iterators of streams closed early are finalized by tasks: let them finish.
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                pending = asyncio.all_tasks(self._loop)
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.close()

        # On a thread of its own: the caller's thread may be running an event loop of its own.
        closer = threading.Thread(target=shut, name="codegen-openai-close", daemon=True)
        closer.start()
        closer.join(timeout=5)


# -- pure helpers (unit-tested without a server) ------------------------------------------------------
async def read_stream(
    events: AsyncIterator[dict], request: GenerationRequest, cancel: CancelToken, should_stop, result: Generation
) -> Generation:
    """Accumulate streamed text until the server finishes, a stop sequence appears, should_stop says so
    or the request is cancelled (checked at every chunk; the caller also watches while no chunk comes)."""
    text, chunks = "", 0
    async for event in events:
        if cancel.cancelled:
            result.finish_reason = "cancelled"
            break
        piece, finish = parse_chunk(event)
        record_usage(event, result)
        if piece:
            text += piece
            chunks += 1
            result.generated_tokens = max(result.generated_tokens, chunks)  # counted as they arrive (for cancels)
        cut = first_stop(text, request.stop)
        if cut is not None:
            text, result.finish_reason = text[:cut], "stop"
            break
        if should_stop is not None and text and should_stop(text):
            result.finish_reason = "cut"
            break
        if finish:
            # Read on to the end ([DONE], a usage chunk): a fully read response keeps its connection for reuse.
            result.finish_reason = finish
    result.text = text
    return result


def auth_headers(api_key_env: str) -> dict[str, str]:
    """The key comes only from the environment variable the settings name; it is never logged."""
    key = os.environ.get(api_key_env, "").strip() if api_key_env else ""
    return {"Authorization": f"Bearer {key}"} if key else {}


def server_root(api_base: str) -> str:
    """llama.cpp serves /infill beside /v1, not under it."""
    base = api_base.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


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


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def completion_body(request: GenerationRequest, model: str | None) -> dict:
    # Token healing cannot be constrained remotely: put the backed-off text back into the prompt.
    body = {
        "model": model,
        "prompt": request.prompt + request.heal,
        "max_tokens": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
    }
    return with_stop_and_seed(body, request)


def infill_body(request: GenerationRequest) -> dict:
    """llama.cpp's /infill: the server builds the model's own FIM prompt from prefix and suffix."""
    body = {
        "input_prefix": request.prompt,
        "input_suffix": request.suffix[:INFILL_SUFFIX_CHARS],
        "prompt": request.heal,
        "n_predict": request.max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "stream": True,
        "cache_prompt": True,
    }
    return with_stop_and_seed(body, request)


def with_stop_and_seed(body: dict, request: GenerationRequest) -> dict:
    """The optional fields both endpoints take alike."""
    if request.stop:
        body["stop"] = list(request.stop)
    if request.seed is not None:
        body["seed"] = request.seed
    return body


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[dict]:
    """JSON payloads of `data:` lines until `data: [DONE]` or the end of the stream (transformers serve
    sends no [DONE]; it closes the connection). A payload with an `error` becomes an EngineError."""
    async for line in lines:
        event = parse_sse_line(line)
        if event is DONE:
            return
        if event is not None:
            yield event


DONE = object()


def parse_sse_line(line: str):
    """One SSE line: a dict for a JSON `data:` line, DONE for `data: [DONE]`, None for anything else."""
    if not line.startswith("data:"):
        return None  # blank separators, comments (`: ping`), `event:` and `id:` lines
    data = line[len("data:") :].strip()
    if data == "[DONE]":
        return DONE
    try:
        event = json.loads(data)
    except ValueError:
        return None
    if not isinstance(event, dict):
        return None
    if event.get("error"):
        raise EngineError(f"the server stopped the completion: {error_text(event)}")
    return event


def parse_chunk(event: dict) -> tuple[str, str | None]:
    """(text, finish reason or None) from an OpenAI completion chunk or a llama.cpp /infill chunk."""
    choices = event.get("choices")
    if isinstance(choices, list):
        if not choices or not isinstance(choices[0], dict):
            return "", None  # vLLM's final usage-only chunk
        choice = choices[0]
        return str(choice.get("text") or ""), finish_reason(choice.get("finish_reason"))
    if "content" in event:  # llama.cpp's native format (/infill)
        finish = None
        if event.get("stop"):
            finish = {"eos": "eos", "word": "stop", "limit": "length"}.get(event.get("stop_type"), "eos")
        return str(event.get("content") or ""), finish
    return "", None


def finish_reason(reason) -> str | None:
    if not reason:
        return None
    return {"stop": "eos", "length": "length"}.get(reason, "eos")


def record_usage(event: dict, result: Generation) -> None:
    """Token counts where the server reports them (OpenAI `usage`; llama.cpp `timings` with its cache hits)."""
    usage = event.get("usage")
    if isinstance(usage, dict):
        result.prompt_tokens = int(usage.get("prompt_tokens") or result.prompt_tokens)
        result.generated_tokens = int(usage.get("completion_tokens") or result.generated_tokens)
    timings = event.get("timings")
    if isinstance(timings, dict):
        cached, prefilled = int(timings.get("cache_n") or 0), int(timings.get("prompt_n") or 0)
        result.prompt_tokens = max(result.prompt_tokens, cached + prefilled)
        result.reused_tokens = cached
        result.generated_tokens = int(timings.get("predicted_n") or result.generated_tokens)


def first_stop(text: str, stops: Iterable[str]) -> int | None:
    """Where the first stop sequence starts (servers differ: transformers serve leaves it in the text)."""
    positions = [text.find(s) for s in stops if s and s in text]
    return min(positions) if positions else None


def first_model_id(entries: list) -> str | None:
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("id"), str) and entry["id"]:
            return entry["id"]
    return None


def served_context_window(entries: list, model: str | None) -> int | None:
    """vLLM lists `max_model_len`; llama.cpp lists `meta.n_ctx` (one slot's context)."""
    chosen = [e for e in entries if isinstance(e, dict) and e.get("id") == model] or [
        e for e in entries if isinstance(e, dict)
    ][:1]
    for entry in chosen:
        meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        for value in (entry.get("max_model_len"), meta.get("n_ctx"), meta.get("n_ctx_train")):
            if isinstance(value, int) and value > 0:
                return value
    return None


def load_local_tokenizer(names: list[str]):
    """(tokenizer, context window from its config or None) for the first name that loads, else (None, None)."""
    from transformers import AutoConfig, AutoTokenizer

    for name in names:
        try:
            tokenizer = AutoTokenizer.from_pretrained(name)
        except Exception as err:  # not a model id or directory, not cached, hub unreachable ...
            log.info("no tokenizer from '%s' (%s); trying the next source", name, str(err).splitlines()[0] if str(err) else err)
            continue
        window = None
        with suppress(Exception):
            config = AutoConfig.from_pretrained(name)
            for attribute in ("max_position_embeddings", "n_positions", "n_ctx"):
                value = getattr(config, attribute, None)
                if isinstance(value, int) and value > 0:
                    window = value
                    break
        return tokenizer, window
    return None, None


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


def status_error_message(
    status: int, body: str, api_base: str, model: str | None, api_key_env: str, about_model: bool = False
) -> str:
    """about_model: the request only checked the model, so a 400/404/422 means the model was refused."""
    try:
        detail = error_text(json.loads(body))
    except ValueError:
        detail = body.strip()
    detail = " ".join(detail.split())[:300] or f"HTTP {status}"
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
        return f"cannot reach the completion server at {api_base} ({type(err).__name__}: {err}); is it running?"
    return f"request to the completion server at {api_base} failed: {type(err).__name__}: {err}"


# -- a shared server: connections, overload, alternatives (issue 14) ------------------------------------------
class ServerBusy(EngineError):
    """The server answered 429/503: no request is sent until `retry_after` seconds have passed."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Backoff:
    """After an overload answer, no request until the server's Retry-After (or 1, 2, 4 ... 30 s) has passed:
    a shared server that is drowning gets no keystroke traffic from this editor meanwhile."""

    def __init__(self, clock=time.monotonic) -> None:
        self.clock = clock
        self.until = 0.0
        self.failures = 0

    def overloaded(self, retry_after: float | None) -> float:
        self.failures += 1
        if retry_after is None:
            wait = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * 2 ** (self.failures - 1))
        else:
            wait = min(max(retry_after, 0.0), RETRY_AFTER_MAX_SECONDS)
        self.until = self.clock() + wait
        return wait

    def remaining(self) -> float:
        return max(0.0, self.until - self.clock())

    def succeeded(self) -> None:
        self.failures, self.until = 0, 0.0


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds (`120`) or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def overloaded_message(api_base: str) -> str:
    """The same words every time, so the server shows it once (it shows each distinct message once)."""
    return (
        f"the completion server at {api_base} is overloaded (HTTP 429/503): completions pause for as long as it "
        "asks (Retry-After) and resume by themselves"
    )


def http_client(settings: Settings):
    """The HTTP client for one server: the API key, timeouts, TLS verified against the system's CA store
    (plus codegenLsp.caBundle, for a company CA), and proxies as httpx reads them from the environment
    (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY)."""
    import httpx

    timeout = settings.request_timeout_seconds
    return httpx.AsyncClient(
        headers=auth_headers(settings.api_key_env),
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
        verify=tls_context(settings.ca_bundle),
        trust_env=True,
    )


def tls_error_message(err: Exception, api_base: str) -> str | None:
    """A certificate the system's CAs do not vouch for: say which setting adds the company's CA."""
    if "CERTIFICATE_VERIFY_FAILED" not in str(err):
        return None
    reason = str(err).split("CERTIFICATE_VERIFY_FAILED]")[-1].split("(_ssl")[0].strip(" :") or "certificate verify failed"
    return (
        f"the certificate of {api_base} is not trusted ({reason}); put your CA's certificate (PEM) in "
        "codegenLsp.caBundle (--ca-bundle)"
    )


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """The operating system's trusted CAs (OpenSSL's default paths, which also honour SSL_CERT_FILE and
    SSL_CERT_DIR), and the certificates in `ca_bundle` on top. httpx's default would be certifi's list,
    which does not know a company's own CA."""
    context = ssl.create_default_context()
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=os.path.expanduser(ca_bundle))
        except (OSError, ssl.SSLError) as err:
            raise EngineError(f"cannot read the CA bundle {ca_bundle} (codegenLsp.caBundle): {err}") from err
    return context


def server_kind(entries: list) -> str:
    """llama.cpp marks its models `owned_by: llamacpp`; everything else is treated as plain OpenAI."""
    return "llamacpp" if any(isinstance(e, dict) and e.get("owned_by") == "llamacpp" for e in entries) else "openai"


def for_server(body: dict, kind: str, n: int = 1) -> dict:
    """What a given server adds to a request body. llama.cpp: `cache_prompt` (reuse the slot's KV cache for the
    common prefix; the default in recent versions, said explicitly for older ones) and `n_cmpl` on /infill.
    Other servers get only standard fields (transformers serve refuses unknown ones with 422)."""
    if n > 1:
        body["n_cmpl" if "input_prefix" in body else "n"] = n
    if kind == "llamacpp":
        body["cache_prompt"] = True
    return body


def seed_groups(requests: list[GenerationRequest], max_choices: int | None) -> list[list[int]]:
    """Indices of requests that differ only in their seed, grouped (each group becomes one request with n),
    at most max_choices per group; order kept."""
    groups: list[list[int]] = []
    keys: list[GenerationRequest] = []
    for i, request in enumerate(requests):
        key = dataclasses.replace(request, seed=None)
        for group, group_key in zip(groups, keys):
            if group_key == key and request.temperature > 0 and (max_choices is None or len(group) < max_choices):
                group.append(i)
                break
        else:
            groups.append([i])
            keys.append(key)
    return groups


def parse_choices(payload) -> list[tuple[str, str | None]]:
    """(text, finish reason) per choice, by index: OpenAI `choices`, or llama.cpp /infill's list of results."""
    if isinstance(payload, dict) and isinstance(payload.get("choices"), list):
        items = [c for c in payload["choices"] if isinstance(c, dict)]
        items.sort(key=lambda c: c.get("index") if isinstance(c.get("index"), int) else 0)
        return [(str(c.get("text") or ""), finish_reason(c.get("finish_reason"))) for c in items]
    results = payload if isinstance(payload, list) else [payload] if isinstance(payload, dict) else []
    out = []
    for result in sorted((r for r in results if isinstance(r, dict)), key=lambda r: r.get("index") or 0):
        out.append(parse_chunk({**result, "stop": True}))
    return out


def choice_generation(text: str, finish: str | None, request: GenerationRequest) -> Generation:
    cut = first_stop(text, request.stop)
    if cut is not None:
        return Generation(text=text[:cut], finish_reason="stop")
    return Generation(text=text, finish_reason=finish or "length")
