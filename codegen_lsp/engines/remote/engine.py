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

import dataclasses
import json
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress

from ..base import CancelToken, EngineError, Generation, GenerationRequest, ProgressFn, StopCheck
from ..config import RemoteConfig
from ..context_window import DEFAULT_CONTEXT_WINDOW
from ..decoding.stopping import FinishReason
from .choices import choice_generation, for_server, parse_choices, seed_groups, server_kind
from .discovery import first_model_id, load_local_tokenizer, served_context_window
from .errors import OVERFLOW_RETRIES, is_context_overflow, shorter_prompt, shown, status_error_message, transport_error_message
from .streaming import FieldCheck, lines_of, read_stream, sse_events
from .overload import OVERLOADED, Backoff, ServerBusy, overloaded_message, retry_after_seconds
from .transport import http_client, server_root

log = logging.getLogger(__name__)

# Code tokenizers average 3-4 characters per token; assuming fewer keeps an estimated prompt inside the window.
CHARS_PER_TOKEN = 2.5
# The most characters one token is taken to decode to when a stream's text is bounded without the tokenizer.
LONGEST_TOKEN_CHARS = 64
# llama.cpp's /infill keeps only ~n_batch/4 tokens of suffix itself; sending more is wasted bytes.
INFILL_SUFFIX_CHARS = 4096
# An error body is read up to this many bytes (its message is then cut to a line for the user); other
# non-streamed answers (a model list, n choices) up to ANSWER_BYTES.
ERROR_BODY_BYTES, ANSWER_BYTES = 1 << 16, 64 << 20


class OpenAIEngine:
    """Requests run on the calling thread (the model thread) with a synchronous httpx client. A cancellation
    or `close()` from another thread aborts the connections (transport.OpenConnections): the blocked read
    returns at once, so nothing polls and no event loop runs here."""

    name = "openai"

    def __init__(self, config: RemoteConfig, clock=time.monotonic) -> None:
        if not config.api_base:
            raise EngineError("the openai engine needs a server: set codegenLsp.apiBase (or --api-base)")
        self.config = config
        self.api_base = config.api_base.rstrip("/")
        self.model_name: str | None = config.api_model
        self.context_window = DEFAULT_CONTEXT_WINDOW
        self.runtime: dict[str, str | int | float] = {"server": self.api_base}  # see Engine.runtime
        self.tokenizer = None  # a transformers tokenizer, or None for the estimate
        self.infill = False  # llama.cpp's /infill serves fill-in-the-middle for this model
        self.server_kind = "openai"  # "llamacpp" when its /models says so: it takes cache_prompt, caps n at its slots
        self.max_choices: int | None = None  # most choices one request may ask for (llama.cpp: its parallel slots)
        self.backoff = Backoff(clock)
        self.check = FieldCheck(f"the server at {self.api_base}")
        self._client = None
        self._connections = None  # aborts the client's connections from another thread
        self._active: CancelToken | None = None  # the generation whose cancel may abort the connections
        self._lock = threading.Lock()
        self._closed = False

    # -- loading -------------------------------------------------------------------------------------
    def load(self, report: ProgressFn) -> None:
        """Check that the server answers and accepts the model; learn its context window and FIM support."""
        with self._lock:
            if self._closed:
                raise EngineError(f"not connected to {self.api_base}: the engine was closed")
            self._client, self._connections = http_client(self.config)
        try:
            report(f"connecting to {self.api_base}", 10)
            models = self._list_models()
            entries = models.get("data") if isinstance(models, dict) else None
            entries = entries if isinstance(entries, list) else []
            if not self.model_name:
                self.model_name = first_model_id(entries)
            if not self.model_name:
                raise EngineError(f"the server at {self.api_base} lists no model; set codegenLsp.apiModel (or --api-model)")
            self.server_kind = server_kind(entries)
            if self.server_kind == "llamacpp":
                self.max_choices = self._llama_slots()
            report(f"checking model '{shown(self.model_name, 100)}'", 40)
            self._probe_completion()
            self.infill = self._probe_infill(entries)
            report("loading tokenizer", 70)
            self.tokenizer, config_window = load_local_tokenizer(self.tokenizer_candidates())
            self.context_window = served_context_window(entries, self.model_name) or config_window or DEFAULT_CONTEXT_WINDOW
        except BaseException:
            self.close()
            raise
        how = "the model's tokenizer" if self.tokenizer is not None else f"~{CHARS_PER_TOKEN} chars/token estimate"
        log.info(
            "remote model '%s' at %s: context %d tokens, token counts from %s%s",
            shown(self.model_name, 100), self.api_base, self.context_window, how, ", FIM through /infill" if self.infill else "",
        )
        report("ready", 100)

    @property
    def fills_in_the_middle(self) -> bool:
        """The server builds FIM prompts itself (llama.cpp's /infill): the caller sends plain prefix + suffix.
        Otherwise the caller may render a FIM template for the model's tokenizer into the prompt (vLLM, TGI)."""
        return self.infill

    def tokenizer_candidates(self) -> list[str]:
        """Where a tokenizer may come from: the model setting when the user set one, then the served name."""
        names = [self.config.tokenizer_source] if self.config.tokenizer_source else []
        if self.model_name and self.model_name not in names:
            names.append(self.model_name)
        return names

    def _list_models(self):
        """GET /models; a server without it is fine when the settings name the model (the probe decides)."""
        response = self._request("GET", f"{self.api_base}/models")
        if response.status_code >= 400 and self.model_name:
            log.info("GET %s/models answered HTTP %d; going on with '%s'", self.api_base, response.status_code, self.model_name)
            return None
        self._check_status(response)
        try:
            return response.json()
        except (ValueError, RecursionError):
            return None

    def _probe_completion(self) -> None:
        """One token for a one-character prompt: the server must accept the model name and the request."""
        body = {"model": self.model_name, "prompt": "\n", "max_tokens": 1, "temperature": 0.0, "stream": False}
        self._send("POST", f"{self.api_base}/completions", json=body, about_model=True)

    def _probe_infill(self, entries: list) -> bool:
        """Only llama.cpp offers /infill, and only for models with FIM tokens: ask it once."""
        if not any(isinstance(e, dict) and e.get("owned_by") == "llamacpp" for e in entries):
            return False
        body = {"input_prefix": "", "input_suffix": "", "n_predict": 1, "stream": False}
        try:
            self._send("POST", f"{server_root(self.api_base)}/infill", json=body)
        except EngineError as err:
            log.info("no fill-in-the-middle through /infill: %s", err)
            return False
        return True

    def _send(self, method: str, url: str, about_model: bool = False, **kwargs):
        """One plain request; every failure becomes an EngineError that says what to do."""
        response = self._request(method, url, **kwargs)
        self._check_status(response, about_model)
        return response

    def _request(self, method: str, url: str, **kwargs):
        """One request, its body read (a status error's only up to ERROR_BODY_BYTES)."""
        import httpx

        client = self._client
        if client is None:
            raise EngineError(f"not connected to {self.api_base}")
        try:
            with client.stream(method, url, **kwargs) as response:
                return read_answer(response)
        except httpx.HTTPError as err:
            raise EngineError(transport_error_message(err, self.api_base, self.config.request_timeout_seconds)) from err

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

    def _llama_slots(self) -> int | None:
        """llama.cpp's /props says how many parallel slots it has: `n` (n_cmpl) may not exceed them."""
        with suppress(EngineError, ValueError, TypeError, AttributeError, RecursionError):
            response = self._request("GET", f"{server_root(self.api_base)}/props")
            slots = response.json().get("total_slots") if response.status_code == 200 else None
            return self.check.count(slots, "total_slots") or None
        return None

    def _status_message(self, status: int, body: str, about_model: bool = False) -> str:
        return status_error_message(
            status, body, self.api_base, self.model_name, self.config.api_key_env, about_model
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

    def longest_token(self) -> int:
        """Characters one token may decode to, for the bound on a stream's text: the estimate's 3 is far too
        few (code tokenizers have tokens of 16 spaces), so at least LONGEST_TOKEN_CHARS."""
        return max(LONGEST_TOKEN_CHARS, self.max_token_chars())

    # -- generation ----------------------------------------------------------------------------------
    def generate(
        self, request: GenerationRequest, cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> Generation:
        self._ready_to_send()
        retries = OVERFLOW_RETRIES
        while True:
            if cancel.cancelled:
                return Generation(text="", finish_reason=FinishReason.CANCELLED)
            try:
                with self._aborted_by(cancel):
                    result = self._stream(request, cancel, should_stop)
                self.backoff.succeeded()
                return result
            except EngineError as err:
                shorter = shorter_prompt(request.prompt)
                if not retries or shorter is None or not is_context_overflow(str(err)):
                    raise
                # Token counts were estimated (or the server's window is smaller than it said): keep the newer half.
                log.warning("the server found the prompt too long; retrying with its last %d characters", len(shorter))
                request, retries = dataclasses.replace(request, prompt=shorter), retries - 1

    @contextmanager
    def _aborted_by(self, cancel: CancelToken):
        """While the block runs, cancelling `cancel` aborts the connections (the read in progress ends)."""
        with self._lock:
            self._active = cancel
        forget = cancel.on_cancel(lambda: self._abort_for(cancel))
        try:
            yield
        finally:
            forget()
            with self._lock:
                self._active = None

    def _abort_for(self, cancel: CancelToken) -> None:
        with self._lock:  # only while that generation runs: a late cancel must not end the next one's reads
            if self._active is cancel and self._connections is not None:
                self._connections.abort()

    def _stream(self, request: GenerationRequest, cancel: CancelToken, should_stop) -> Generation:
        import httpx

        result = Generation(text="", finish_reason=FinishReason.LENGTH)
        client = self._client
        if client is None:
            raise EngineError(f"not connected to {self.api_base}")
        url, body = self._endpoint(request)
        try:
            # Leaving this block closes the connection: the server stops generating.
            with client.stream("POST", url, json=body) as response:
                if response.status_code >= 400:
                    raise self._status_error(read_answer(response))
                events = sse_events(lines_of(response.iter_bytes()))
                max_chars = request.max_new_tokens * self.longest_token()
                read_stream(events, request, cancel, should_stop, result, self.check, max_chars)
        except httpx.HTTPError as err:
            if cancel.cancelled:  # the abort ended the read
                result.finish_reason = FinishReason.CANCELLED
                return result
            raise EngineError(transport_error_message(err, self.api_base, self.config.request_timeout_seconds)) from err
        if cancel.cancelled:  # the abort may read as the end of the body, not as an error
            result.finish_reason = FinishReason.CANCELLED
        return result

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
        goes alongside, at the same time (one thread each). A server that ignores `n` (transformers serve)
        gets the missing choices as separate requests, sent together."""
        self._ready_to_send()
        cancelled = [Generation(text="", finish_reason=FinishReason.CANCELLED) for _ in requests]
        if cancel.cancelled:
            return cancelled
        groups = seed_groups(requests, self.max_choices)
        with self._aborted_by(cancel):
            parts = all_at_once([lambda g=g: self._group(requests[g[0]], len(g), cancel, should_stop) for g in groups])
        if cancel.cancelled:
            return cancelled
        out = [Generation(text="", finish_reason=FinishReason.EOS) for _ in requests]
        for indices, generations in zip(groups, parts):
            for index, generation in zip(indices, generations):
                out[index] = generation
        self.backoff.succeeded()
        return out

    def _group(self, request: GenerationRequest, n: int, cancel: CancelToken, should_stop) -> list[Generation]:
        """One request for n choices of `request` (streamed as usual when n is 1)."""
        if n == 1:
            return [self._stream(request, cancel, should_stop)]
        url, body = self._endpoint(request, n)
        body["stream"] = False  # the choices end together; a cancel still closes the connection
        if self.server_kind == "llamacpp":
            body.pop("seed", None)  # its parallel slots would share the seed and sample the same text
        try:
            response = self._request("POST", url, json=body)
        except EngineError:
            if cancel.cancelled:
                return [Generation(text="", finish_reason=FinishReason.CANCELLED)] * n
            raise
        self._check_status(response)
        try:
            payload = response.json()
        except (ValueError, RecursionError) as err:
            raise EngineError(f"the server at {self.api_base} sent an unreadable answer: {shown(err)}") from err
        most = request.max_new_tokens * self.longest_token()  # the token limit holds for every choice
        choices = parse_choices(payload, self.check)[:n]
        generations = [choice_generation(text[:most], finish, request) for text, finish in choices]
        if len(generations) < n:  # `n` ignored: ask for the rest one by one, all at once
            log.info("the server answered %d of %d choices; asking for the rest separately", len(generations), n)
            self.max_choices = 1
            seeds = [dataclasses.replace(request, seed=(request.seed or 0) + k) for k in range(len(generations), n)]
            more = all_at_once([lambda r=r: self._group(r, 1, cancel, should_stop) for r in seeds])
            generations += [g for part in more for g in part]
        return generations

    def close(self) -> None:
        """From any thread: end every request in progress (a load waiting on a server that never answers
        included) and close the client."""
        with self._lock:
            self._closed = True
            client, connections, self._client = self._client, self._connections, None
        if connections is not None:
            connections.close()
        if client is not None:
            with suppress(Exception):
                client.close()


@dataclasses.dataclass(frozen=True)
class Answer:
    """A non-streamed answer, its body read (and bounded: see read_answer)."""

    status_code: int
    headers: dict
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)


def read_answer(response) -> Answer:
    """An answer with its body: an error's first ERROR_BODY_BYTES (its message is cut for the user anyway);
    a success's up to ANSWER_BYTES, beyond which it is no answer to anything we ask."""
    limit = ERROR_BODY_BYTES if response.status_code >= 400 else ANSWER_BYTES
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > limit:
            if response.status_code < 400:
                raise EngineError(f"the server sent an answer of over {limit} bytes")
            break
    headers = {key.lower(): value for key, value in response.headers.items()}
    return Answer(response.status_code, headers, bytes(data[:limit]))


def all_at_once(jobs: list) -> list:
    """Run blocking jobs side by side (one thread each); their results in order; the first error re-raised."""
    if len(jobs) == 1:
        return [jobs[0]()]
    with ThreadPoolExecutor(max_workers=len(jobs), thread_name_prefix="codegen-remote") as pool:
        futures = [pool.submit(job) for job in jobs]
        return [future.result() for future in futures]


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
