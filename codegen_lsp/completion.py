"""The completion pipeline, free of LSP: cursor context → typed-through → prompt → cache → scheduler →
engine → post-processing. The server and the `complete` command both drive it."""

from __future__ import annotations

import asyncio
import logging
import time
from enum import StrEnum
from typing import Callable, Sequence

from .alternatives import candidate_requests
from .cache import CacheKey, CompletionCache, TypedThrough
from .context import SKIP, CursorContext, cursor_context
from .engines import (
    Engine, EngineConfig, EngineError, Generation, GenerationRequest, build_engine, engine_config, needs_reload,
)
from .engines.base import CancelToken, FinishReason, ProgressFn
from .fim import template_for_tokenizer
from .postprocess import Completion, completion_for, ends_here
from .prompt import BlockCounts, build_prompt, display_path, retrieval_budget, snippet_block, token_budget
from .scheduler import Scheduler, Stopped, Superseded
from .settings import Settings
from .snippets import Neighbour, query_of, rank_snippets
from .stats import Count, Outcome, Stats, Trace
from .workspace_index.service import ProjectContext

log = logging.getLogger(__name__)


class EngineState(StrEnum):
    """Where the engine stands, as the status bar shows it."""

    IDLE = "idle"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"
    DISABLED = "disabled"  # the user turned completions off (the engine may still be loaded)


IDLE, LOADING, READY, FAILED = EngineState.IDLE, EngineState.LOADING, EngineState.READY, EngineState.FAILED

# A remote server that was down when the engine loaded may come back: completions try again this often.
RETRY_REMOTE_LOAD_SECONDS = 3.0


class Completer:
    """`build`: how an engine is made from its config (`engines.build_engine` unless a test passes its own);
    `project`: the workspace index, for definitions from files that are not open (setting projectContext)."""

    def __init__(
        self,
        settings: Settings,
        on_error: Callable[[str], None] | None = None,
        build: Callable[[EngineConfig], Engine] | None = None,
        project: ProjectContext | None = None,
    ) -> None:
        self.settings = settings
        self._build = build
        self.project = project
        self.scheduler = Scheduler()
        self.stats = Stats()
        self.engine: Engine | None = None
        self.state = IDLE
        self.error: str | None = None
        self.on_error = on_error or (lambda message: None)
        self.cache = CompletionCache(settings.cache_entries, settings.cache_ttl_seconds)
        self.typed_through = TypedThrough()
        self._max_token_chars = 64
        self._block_counts: BlockCounts | None = None  # token counts of prompt blocks, for the loaded engine
        self.fim = None  # the model's fill-in-the-middle template, when it has one
        self._retry_load_at = 0.0
        self._engine_config = None  # what the loaded engine was built from (part of every cache key)
        self._loading: Engine | None = None  # the engine being loaded on the model thread

    # -- the model -----------------------------------------------------------------------------------
    async def load(self, report: ProgressFn) -> bool:
        """Load the engine the settings name on the model thread; False (and on_error) when it fails."""
        self.state, self.error = LOADING, None
        old, self.engine = self.engine, None
        settings = self.settings
        config = engine_config(settings)

        def work() -> Engine:
            if old is not None:
                old.close()
            self._loading = engine = (self._build or build_engine)(config)  # close() ends a load that waits
            try:
                engine.load(report)
            finally:
                self._loading = None
            return engine

        try:
            engine = await self.scheduler.call(work)
        except Exception as err:  # EngineError, and anything a broken checkpoint raises
            message = str(err) if isinstance(err, EngineError) else f"could not load '{settings.model}': {err!r}"
            log.error("model load failed: %s", message, exc_info=not isinstance(err, EngineError))
            self.state, self.error = FAILED, message
            self._retry_load_at = time.monotonic() + RETRY_REMOTE_LOAD_SECONDS
            self.on_error(message)
            return False
        if needs_reload(settings, self.settings):
            # The engine's config changed while it loaded: this engine is not the one the settings name now (a
            # newer load is on its way when the server asked for one). Close it rather than drop it loaded.
            self.state = IDLE
            await self.scheduler.call(lambda: close_quietly(engine))
            return False
        # (Other settings may change meanwhile: eglot sends didChangeConfiguration right after initialized.)
        self.engine, self.state, self._engine_config = engine, READY, config
        self._max_token_chars = engine.max_token_chars()
        self._block_counts = BlockCounts(engine.count_tokens)
        # A template for the model's tokenizer, unless the engine's server fills in the middle itself (/infill).
        self.fim = None if engine.fills_in_the_middle else template_for_tokenizer(engine.tokenizer)
        log.info("model ready: %s (%s engine)", settings.model, engine.name)
        return True

    async def _retry_remote_load(self) -> bool:
        """Load again an engine whose config says a failed load may succeed later (a remote server that was
        down); a local model that failed fails again."""
        if self.state != FAILED or time.monotonic() < self._retry_load_at:
            return False
        if not engine_config(self.settings).retries_failed_load:
            return False
        return await self.load(lambda message, percentage: None)

    def update_settings(self, settings: Settings) -> bool:
        """Apply new settings; True when the engine must be reloaded."""
        reload = needs_reload(self.settings, settings)
        if (settings.cache_entries, settings.cache_ttl_seconds) != (
            self.settings.cache_entries,
            self.settings.cache_ttl_seconds,
        ):
            self.cache = CompletionCache(settings.cache_entries, settings.cache_ttl_seconds)
        self.settings = settings
        return reload

    def status(self) -> dict:
        """What an editor's status bar shows: loading, ready, failed (with why) or disabled."""
        state = self.state if self.settings.enabled else EngineState.DISABLED
        engine = self.engine.name if self.engine is not None else None
        served = self.engine.model_name if self.engine is not None else None  # a remote engine's served model
        model = served or self.settings.model
        runtime = dict(self.engine.runtime) if self.engine is not None else {}
        return {"state": state, "model": model, "engine": engine, "error": self.error, "runtime": runtime}

    def describe(self, uri: str, text: str, offset: int, language_id: str | None) -> tuple[str, str, str]:
        """What a completion at `offset` is, for the acceptance counters: (mode, language, engine)."""
        ctx = cursor_context(text, offset, language_id, uri, self.settings.mode, self._fills_in_the_middle())
        return ctx.mode, ctx.language, self.engine.name if self.engine is not None else "none"

    def _fills_in_the_middle(self) -> bool:
        """The loaded model sees the code after the cursor (a FIM template, or a server that fills in itself)."""
        return self.fim is not None or (self.engine is not None and self.engine.fills_in_the_middle)

    def close(self) -> None:
        self.scheduler.cancel_all()
        engine, self.engine = self.engine, None
        for each in (engine, self._loading):  # (a loading engine's close ends the requests it waits on)
            if each is not None:
                close_quietly(each)
        self.scheduler.shutdown()

    # -- completions ---------------------------------------------------------------------------------
    async def complete(
        self,
        uri: str,
        text: str,
        offset: int,
        language_id: str | None,
        invoked: bool = False,
        neighbours: Sequence[Neighbour] = (),
    ) -> list[Completion]:
        """Completions at `offset` of `text` (each may replace closers after the cursor); [] when there is
        nothing good to offer.

        `invoked`: the user asked explicitly, so offer `candidates` alternatives. `neighbours`: the other
        open documents, for snippets in the prompt.

        Raises asyncio.CancelledError when the request is cancelled while it waits for the model.
        """
        started = time.perf_counter()
        self.stats.count(Count.REQUESTS)
        settings = self.settings
        if not settings.enabled:
            return []
        ctx = cursor_context(text, offset, language_id, uri, settings.mode, self._fills_in_the_middle())
        if ctx.mode == SKIP:
            return self._empty()
        rest = self.typed_through.lookup(uri, ctx.prefix, ctx.suffix) if settings.typed_through else None
        if rest is not None:
            self.stats.count(Count.TYPED_THROUGH_HITS)
            return self._done(rest, started, Trace(outcome=Outcome.TYPED_THROUGH))
        engine = self.engine
        if engine is None or self.state != READY:
            if not await self._retry_remote_load():
                return self._empty()
            engine = self.engine
        trace = Trace()
        try:
            completions = await self._generate(engine, ctx, trace, invoked, neighbours)
        except Superseded:
            self.stats.count(Count.SUPERSEDED)
            return []
        except (asyncio.CancelledError, Stopped):
            self.stats.count(Count.CANCELLED)
            raise asyncio.CancelledError()
        except EngineError as err:
            cause = type(err.__cause__ or err).__name__
            log.error("completion failed (%s): %s", cause, err)
            return self._failed(str(err))
        except Exception as err:
            log.exception("completion failed")
            return self._failed(f"completion failed: {err!r}")
        self.typed_through.remember(uri, ctx.prefix, ctx.suffix, completions)
        return self._done(completions, started, trace)

    async def _generate(
        self, engine: Engine, ctx: CursorContext, trace: Trace, invoked: bool = False, neighbours: Sequence = ()
    ) -> list[Completion]:
        """Completions from the cache or the model; `trace` receives what happened, for codegen/stats."""
        settings = self.settings
        budget = token_budget(engine.context_window, settings.max_new_tokens, settings.context_tokens)
        snippets = rank_snippets(query_of(ctx.prefix), neighbours, ctx.language)
        retrieved = self._retrieve(ctx, budget)
        built = build_prompt(
            ctx.prefix, ctx.suffix, ctx.path, ctx.language, budget, engine.count_tokens, snippets, self.fim,
            self._max_token_chars, block_counts=self._block_counts, retrieved=retrieved,
            retrieved_share=settings.project_context_share if retrieved else 0.0,
        )
        prompt, n = built.text, settings.candidates if invoked else 1
        trace.snippets, trace.snippet_tokens, trace.retrieved = built.snippets, built.snippet_tokens, built.retrieved
        if log.isEnabledFor(logging.DEBUG):
            why = [f"{display_path(r.path)} ({r.reason})" for r in retrieved[: built.retrieved]]
            why += [f"{display_path(s.path)} (open, word overlap {s.score:.2f})" for s in snippets]
            log.debug("prompt: %d tokens of snippets: %s", built.snippet_tokens, "; ".join(why) or "none")
        key = CacheKey(self._engine_config, settings.max_new_tokens, settings.temperature, settings.top_p, ctx.mode, prompt, n)
        raw = self.cache.get(key)
        if raw is not None:
            self.stats.count(Count.CACHE_HITS)
            trace.outcome = Outcome.CACHE
        else:
            request = GenerationRequest(
                prompt=prompt,
                max_new_tokens=settings.max_new_tokens,
                temperature=settings.temperature,
                top_p=settings.top_p,
                suffix=ctx.suffix,
                stop=self.fim.stops if self.fim is not None else (),
                draft_tokens=settings.draft_tokens,
            )
            requests = candidate_requests(request, n)
            # Alternatives are asked for where the automatic request usually just answered: its greedy text is
            # the first alternative, and only the sampled ones go to the model (one request with `n`, remotely).
            greedy = self.cache.get(key.with_candidates(1)) if n > 1 else None
            if greedy:
                requests = requests[1:]
            generations = await self.scheduler.generate(lambda cancel: self._run(engine, requests, ctx, cancel, trace))
            raw = list(greedy[:1] if greedy else []) + [generation.text for generation in generations]
            self.cache.put(key, raw)
            trace.outcome = Outcome.MODEL
        shown = [c for c in (completion_for(r, ctx) for r in raw) if c is not None]
        if trace.outcome is Outcome.MODEL:
            decoded = sum(g.generated_tokens for g in generations)
            self.stats.count(Count.TOKENS_WASTED, max(0, decoded - sum(engine.count_tokens(c.text) for c in shown)))
        return list(dict.fromkeys(shown))

    def _retrieve(self, ctx: CursorContext, budget: int) -> list:
        """Definitions from the workspace index that the code before the cursor refers to (setting projectContext)."""
        if self.project is None or not self.settings.project_context or self._block_counts is None:
            return []
        counts = self._block_counts
        share = retrieval_budget(budget, self.settings.project_context_share)
        measure = lambda block: counts(snippet_block(block, ctx.language))  # noqa: E731
        return self.project.retrieve(ctx.prefix, ctx.line_suffix, ctx.path, ctx.language, share, measure)

    def _run(
        self, engine: Engine, requests: list[GenerationRequest], ctx: CursorContext, cancel: CancelToken, trace: Trace
    ) -> list[Generation]:
        """On the model thread: generate (alternatives in one engine call), count, and turn a stop into the
        right exception."""
        should_stop = lambda text: ends_here(text, ctx)  # noqa: E731
        if len(requests) == 1:
            started = time.perf_counter()
            return [self._count(engine.generate(requests[0], cancel, should_stop), started, cancel, trace)]
        started = time.perf_counter()
        generations = engine.generate_many(requests, cancel, should_stop)
        return [self._count(generation, started, cancel, trace) for generation in generations]

    def _count(self, generation: Generation, started: float, cancel: CancelToken, trace: Trace) -> Generation:
        self.stats.count(Count.MODEL_CALLS)
        self.stats.count(Count.TOKENS_PREFILLED, generation.prefilled_tokens)
        self.stats.count(Count.TOKENS_REUSED, generation.reused_tokens)
        self.stats.count(Count.TOKENS_GENERATED, generation.generated_tokens)
        self.stats.count(Count.TOKENS_DRAFTED, generation.drafted_tokens)
        self.stats.count(Count.TOKENS_ACCEPTED, generation.accepted_tokens)
        engine_ms = (time.perf_counter() - started) * 1000
        self.stats.engine_latency(engine_ms)
        trace.engine_ms, trace.passes, trace.finish = engine_ms, generation.forward_passes, generation.finish_reason
        trace.prefilled, trace.reused = generation.prefilled_tokens, generation.reused_tokens
        trace.generated, trace.accepted = generation.generated_tokens, generation.accepted_tokens
        if generation.finish_reason == FinishReason.CANCELLED:
            self.stats.count(Count.TOKENS_WASTED, generation.generated_tokens)
            if cancel.reason == "superseded":
                raise Superseded()
            raise Stopped()
        return generation

    def _empty(self) -> list[Completion]:
        self.stats.count(Count.EMPTY_RESULTS)
        return []

    def _done(self, completions: list[Completion], started: float, trace: Trace) -> list[Completion]:
        self.stats.finish_request(trace, (time.perf_counter() - started) * 1000)
        if not completions:
            self.stats.count(Count.EMPTY_RESULTS)
        return completions

    def _failed(self, message: str) -> list[Completion]:
        self.stats.count(Count.ERRORS)
        self.on_error(message)
        return []


def close_quietly(engine: Engine) -> None:
    """Close an engine; a failure to close is logged, never raised (the server goes on)."""
    try:
        engine.close()
    except Exception:
        log.exception("closing the engine failed")
