"""CodeGen's forward pass over a preallocated KV cache, as a `TokenModel` (prefill / step / reset).

Layout chosen for decoding one token at a time, where every weight byte is read once per step:
- CodeGen's block is parallel (attention and MLP both read ln_1(h)), so per layer there are only two
  matrix products: x @ [qkv; fc_in] and h += [attn, gelu(fc), 1] @ [out_proj, fc_out, fc_out.bias], the
  second adding bias and residual inside the product (fewer kernels per decode step).
- The checkpoint's qkv rows come in 4 model-parallel shards, each (q, v, k); they are reordered once to
  (q, k, v) across all heads (checkpoint.qkv_row_order).
- GPT-J rotary (interleaved pairs, first `rotary_dim` channels) is one multiply-add against per-position
  tables that are the identity beyond `rotary_dim` and for v, so q, k and v go through it together.
- The cache is one tensor (layers, 2, heads, window, head_dim); new keys/values land with index_copy_
  at positions held in a device tensor, so the decode step has static shapes and can be captured in a
  CUDA graph per attention length bucket (a mask hides the unfilled end of the bucket).
- Prefix reuse: the token ids held in the cache are kept; a new prompt runs only the tokens after the
  longest common prefix.
- Speculative decoding: `verify` runs several tokens in one pass (captured too, padded to a fixed width)
  and `truncate` forgets the rejected ones (their cache rows are simply written over later).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace

import torch
import torch.nn.functional as F

from ...decoding.token_model import common_prefix_length
from .checkpoint import CodeGenShape
from .graphs import DEFAULT_BUCKET, BucketGraphs, bucket_length, on_device, record_graph, time_replays
from .plan import DecodePlan, PlanTimings, choose_plan, fixed_plan
from .quantize import QuantizedWeight
from .weights import BIAS_COLUMNS, CodeGenWeights

log = logging.getLogger(__name__)

COMPILE_MODE = "default"  # no Inductor CUDA graphs: the whole step is captured in ours
def rotary_tables(shape: CodeGenShape, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and signed sin per position, shaped (positions, 3, 1, head_dim) for (q, k, v).

    rotated = x * cos + pair_swap(x) * sin, with pair_swap(a, b) = (b, a) and sin = (-s, s) per pair:
    GPT-J's rotate_every_two. Beyond rotary_dim, and for v, cos is 1 and sin 0. Angles are computed
    exactly as transformers' create_sinusoidal_positions does (float32). The q rows also carry the
    attention scale 1/sqrt(head_dim), so attention needs no separate scaling pass.
    """
    rd, hd = shape.rotary_dim, shape.head_dim
    inv_freq = 1.0 / (10000 ** (torch.arange(0, rd, 2, dtype=torch.int64) / rd))
    angles = torch.arange(shape.n_positions, dtype=torch.int64).float()[:, None] * inv_freq
    sin, cos = torch.sin(angles), torch.cos(angles)
    cos_full = torch.ones(shape.n_positions, hd)
    sin_full = torch.zeros(shape.n_positions, hd)
    cos_full[:, 0:rd:2], cos_full[:, 1:rd:2] = cos, cos
    sin_full[:, 0:rd:2], sin_full[:, 1:rd:2] = -sin, sin
    ones, zeros = torch.ones_like(cos_full), torch.zeros_like(sin_full)
    scale = hd**-0.5
    cos3 = torch.stack([cos_full * scale, cos_full, ones], dim=1)[:, :, None, :]
    sin3 = torch.stack([sin_full * scale, sin_full, zeros], dim=1)[:, :, None, :]
    return cos3.to(device=device, dtype=dtype), sin3.to(device=device, dtype=dtype)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


def activation_fn(name: str):
    # Module-level functions, not fresh lambdas: a compiled layer function guards on the one it is given.
    if name in ("gelu_new", "gelu_fast", "gelu_pytorch_tanh", "gelu_accurate"):
        return gelu_tanh
    if name == "gelu":
        return F.gelu
    from transformers.activations import ACT2FN

    return ACT2FN[name]


# -- weight products: every product of activations with the model's weights happens here -----------------
# (a layer's two products and the LM head): the weight is a dense tensor, or with the quantize setting one of
# quantize.py's int8/int4 weights, called like a function (w(x) == x @ W.T, torch's packed kernels).
def weight_product(x: torch.Tensor, weight: torch.Tensor | QuantizedWeight, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x @ weight.T (+ bias)."""
    if isinstance(weight, torch.Tensor):
        return F.linear(x, weight, bias)
    return weight(x) if bias is None else weight(x) + bias


def weight_product_add_(out: torch.Tensor, x: torch.Tensor, weight: torch.Tensor | QuantizedWeight) -> torch.Tensor:
    """out += x @ weight.T, in place (dense: the residual rides in the product, one kernel)."""
    if isinstance(weight, torch.Tensor):
        return out.addmm_(x, weight.t())
    return out.add_(weight(x))


def attention_inputs(h, ln_weight, ln_bias, w_in, cos, sin, kv_cache, positions, eps: float, n_head: int):
    """One layer up to attention: ln_1, the first product, rotary on q, k, v; writes k and v into this layer's
    cache (2, heads, window, head_dim) at `positions`. Returns q (1, heads, T, head_dim) and the fc_in part
    before its bias (q, k, v have none; fc_in's is added in mixed_input: a product without bias is one kernel
    for a single row, where cuBLAS would first copy the bias into the output)."""
    T, E = h.shape
    hd = E // n_head
    x = F.layer_norm(h, (E,), ln_weight, ln_bias, eps)
    y = weight_product(x, w_in)
    qkv = y[:, : 3 * E].view(T, 3, n_head, hd)
    swapped = qkv.view(T, 3, n_head, hd // 2, 2).flip(-1).view(T, 3, n_head, hd)
    qkv = torch.addcmul(qkv * cos, swapped, sin)
    kv_cache.index_copy_(2, positions, qkv[:, 1:].permute(1, 2, 0, 3))
    return qkv[:, 0].transpose(0, 1).unsqueeze(0), y[:, 3 * E :]


def mixed_input(attn, fc, fc_bias, bias_inputs, act):
    """The second product's input [attn, act(fc + fc_bias), 1, 0...] (T, E + inner + BIAS_COLUMNS)."""
    T = fc.shape[0]
    return torch.cat([attn[0].transpose(0, 1).reshape(T, -1), act(fc + fc_bias), bias_inputs], dim=-1)


@functools.cache
def compiled_layer_functions():
    """attention_inputs and mixed_input through torch.compile: Inductor fuses rotary with the cache write and
    bias + gelu with the concat (plus layer norm: three small kernels a layer instead of about eight) and
    leaves the products to cuBLAS.
    Weights arrive as arguments and every layer has the same shapes, so each compiles once per model shape
    (and dtype), not once per layer; attention stays outside (its length changes with the bucket)."""
    options = dict(fullgraph=True, dynamic=False, mode=COMPILE_MODE)
    return torch.compile(attention_inputs, **options), torch.compile(mixed_input, **options)


class StaticCodeGen:
    """A TokenModel over CodeGenWeights with a static KV cache, run as its frozen `plan` says.

    `graphs`: capture the decode step in CUDA graphs (CUDA, or anywhere with a stand-in `record`).
    `static_step`: run the decode step with device-side position and a bucketed, masked attention even
    without graphs (the captured code path; tests use it on CPU). `reuse`: keep the cache between prompts
    for prefix reuse.
    `decode_attention`: "sdpa" (fused kernel), "matmul" (two batched products, softmax in float32),
    "split" (Triton split-KV kernel), or "auto": with graphs, `capture_all` (at load) times the captured step
    with each variant once over a synthetic prompt of 3/4 of the window and keeps the fastest whose logits
    agree with SDPA's; else sdpa. Which wins depends on the card and the shape (a fused kernel gets one
    program per head for a single query; a few wide heads leave most of the GPU idle).
    `compile_step`: "on" runs the decode step's small per-layer ops through torch.compile (see
    compiled_layer_functions), "off" eagerly, "auto": with graphs, time the captured step both ways once at
    load (after the attention choice) and keep the compiled one only if it is faster and its logits agree
    with the eager step's; without graphs, off (CPU tests stay free of compile time).
    `verify_width`: with a static step, verifications run padded to this many tokens, so one captured
    graph per attention bucket serves them all (captured at load when set; a longer verification widens it,
    with the eager layer functions from then on).
    Seams: `record` captures a program (graphs.record_graph), `timer` times a captured graph's replays
    (graphs.time_replays), `layer_functions` gives the compiled pair (compiled_layer_functions); tests stand
    in replaying recorders, scripted timers and uncompiled pairs on a CPU. plan.py chooses the plan.
    """

    def __init__(
        self,
        weights: CodeGenWeights,
        *,
        graphs: bool = False,
        static_step: bool | None = None,
        reuse: bool = True,
        bucket: int = DEFAULT_BUCKET,
        decode_attention: str = "auto",
        window: int | None = None,
        compile_step: str = "auto",
        verify_width: int = 0,
        record=record_graph,
        timer=time_replays,
        layer_functions=compiled_layer_functions,
    ) -> None:
        self.w = weights
        shape = weights.shape
        self.shape = shape
        device, dtype = weights.wte.device, weights.wte.dtype
        self.device, self.dtype = device, dtype
        self.window = min(window or shape.n_positions, shape.n_positions)
        self.graphs_possible = graphs and (device.type == "cuda" or record is not record_graph)
        self.static_step = self.graphs_possible if static_step is None else (static_step or self.graphs_possible)
        self.reuse = reuse
        self.bucket = bucket
        self.requested = (decode_attention, compile_step)  # what capture_all resolves "auto" from, once
        self.plan: DecodePlan = fixed_plan(decode_attention, compile_step, self.graphs_possible)
        self.timings = PlanTimings()  # what the choice at load measured
        self.record, self.timer, self.layer_functions = record, timer, layer_functions
        self.act = activation_fn(shape.activation)
        self.cos3, self.sin3 = rotary_tables(shape, dtype, device)
        self.cache = torch.zeros(
            shape.n_layer, 2, shape.n_head, self.window, shape.head_dim, device=device, dtype=dtype
        )
        self.positions = torch.arange(self.window, device=device)
        self.bias_inputs = torch.zeros(self.window, BIAS_COLUMNS, device=device, dtype=dtype)
        self.bias_inputs[:, 0] = 1
        self.ids: list[int] = []  # the tokens whose keys/values the cache holds, in order
        # Static inputs/outputs of the captured step.
        self._token = torch.zeros(1, dtype=torch.long, device=device)
        self._pos = torch.zeros(1, dtype=torch.long, device=device)
        self.step_graphs = BucketGraphs(self._step_program, record, device)
        self.verify_graphs = BucketGraphs(self._verify_program, record, device)
        self._set_verify_width(verify_width)
        self.greedy_token: torch.Tensor | None = None  # argmax of the last step's logits, on device

    # -- TokenModel -----------------------------------------------------------------------------------
    def prefill(self, ids: list[int]) -> tuple[torch.Tensor, int]:
        if not ids:
            raise ValueError("cannot prefill an empty prompt")
        if len(ids) > self.window:
            raise ValueError(f"prompt of {len(ids)} tokens exceeds the context window of {self.window}")
        reused = common_prefix_length(self.ids, ids) if self.reuse else 0
        reused = min(reused, len(ids) - 1)  # at least one token must run to get logits
        del self.ids[reused:]
        new = ids[reused:]
        with torch.inference_mode():
            tokens = torch.tensor(new, dtype=torch.long, device=self.device)
            logits = self.forward(tokens, self.positions[reused : len(ids)], reused + len(new), fresh=reused == 0)
        self.ids.extend(new)
        self.greedy_token = None
        return logits, reused

    def step(self, token: int) -> torch.Tensor:
        pos = len(self.ids)
        if pos >= self.window:
            raise ValueError(f"the context window of {self.window} tokens is full")
        with torch.inference_mode():
            if self.static_step:
                logits = self._static_step(token, pos)
            else:
                tokens = torch.tensor([token], dtype=torch.long, device=self.device)
                logits = self.forward(tokens, self.positions[pos : pos + 1], pos + 1, fresh=False)
                self.greedy_token = None
        self.ids.append(token)
        return logits

    def verify(self, tokens: list[int]) -> torch.Tensor:
        """Append `tokens` in one pass; the logits after each, one row per token."""
        pos, T = len(self.ids), len(tokens)
        if pos + T > self.window:
            raise ValueError(f"the context window of {self.window} tokens is full")
        with torch.inference_mode():
            if self.static_step and pos + max(T, self.verify_width) <= self.window:
                if T > self.verify_width:
                    self._set_verify_width(T)
                    self.plan = replace(self.plan, verify_compiled=False)  # no compile in the middle of a request
                logits = self._static_verify(tokens, pos)[:T]
            else:
                ids = torch.tensor(tokens, dtype=torch.long, device=self.device)
                logits = self.forward(ids, self.positions[pos : pos + T], pos + T, fresh=False, all_logits=True)
        self.ids.extend(tokens)
        self.greedy_token = None
        return logits

    def truncate(self, length: int) -> None:
        del self.ids[length:]

    def reset(self) -> None:
        self.ids.clear()

    # -- the forward pass -----------------------------------------------------------------------------
    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, length: int, *, fresh: bool,
                mask: torch.Tensor | None = None, compiled: bool = False, all_logits: bool = False) -> torch.Tensor:
        """Run `tokens` at `positions`, writing their keys/values into the cache, attending over the
        first `length` cache positions; returns the logits after the last token.

        fresh: the cache before positions[0] is not used (a plain causal prefill). `mask`: a prepared
        additive (T, length) mask (the captured step passes one); else one is built from positions.
        compiled: run each layer's small ops through the torch.compile'd pair (see compiled_layer_functions).
        all_logits: the logits after every token (T, vocab), not only the last.
        """
        s = self.shape
        T, E, H = tokens.shape[0], s.n_embd, s.n_head
        h = F.embedding(tokens, self.w.wte)
        cos, sin = self.cos3[positions], self.sin3[positions]  # (T, 3, 1, hd)
        causal = fresh and mask is None and T == length
        if mask is None and not causal and T > 1:
            mask = self.additive_mask(self.positions[:length][None, :] <= positions[:, None])
        # The compiled pair (decode step only: prefill lengths vary, each would be a new compile).
        before, after = self.layer_functions() if compiled else (attention_inputs, mixed_input)
        for i, layer in enumerate(self.w.layers):
            kv_cache = self.cache[i]
            q, fc = before(h, layer.ln_weight, layer.ln_bias, layer.w_in, cos, sin, kv_cache, positions,
                           s.layer_norm_epsilon, H)
            keys, values = kv_cache[0, :, :length].unsqueeze(0), kv_cache[1, :, :length].unsqueeze(0)
            attn = self._attend(q, keys, values, mask, causal, positions)
            mixed = after(attn, fc, layer.b_in[3 * E :], self.bias_inputs[:T], self.act)
            weight_product_add_(h, mixed, layer.w_out)  # residual + out_proj + fc_out + its bias, one product
        h = F.layer_norm(h if all_logits else h[-1:], (E,), self.w.ln_f_weight, self.w.ln_f_bias, s.layer_norm_epsilon)
        logits = weight_product(h, self.w.lm_head_weight, self.w.lm_head_bias)
        return logits if all_logits else logits[0]

    def _attend(self, q, keys, values, mask, causal, positions):
        # q arrives scaled by 1/sqrt(head_dim) (see rotary_tables).
        attention = self.plan.attention
        if attention == "split" and q.shape[2] == 1:
            # Reads only the filled positions (up to positions[0]), split over heads x chunks.
            from .attention_kernel import decode_attention

            return decode_attention(q[0, :, 0], keys[0], values[0], positions).view(q.shape)
        if attention == "matmul" and q.shape[2] == 1:
            # One query: two batched products; softmax in float32 as transformers' eager path does.
            scores = torch.matmul(q, keys.transpose(-1, -2)).float()
            if mask is not None:
                scores = scores + mask
            return torch.matmul(torch.softmax(scores, dim=-1).to(values.dtype), values)
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, is_causal=causal, scale=1.0)

    def additive_mask(self, allowed: torch.Tensor) -> torch.Tensor:
        """0 where attention is allowed, -inf elsewhere; built once per forward, shared by all layers."""
        return torch.zeros(allowed.shape, dtype=self.dtype, device=self.device).masked_fill_(~allowed, float("-inf"))

    # -- the decode step and the verification with static shapes (captured on CUDA) -------------------
    def set_step_inputs(self, token: int, pos: int) -> None:
        """The static inputs the step program reads."""
        self._token.fill_(token)
        self._pos.fill_(pos)

    def _static_step(self, token: int, pos: int) -> torch.Tensor:
        length = bucket_length(pos + 1, self.bucket, self.window)
        self.set_step_inputs(token, pos)
        if self._step_captured(length):
            logits, greedy = self.step_graphs.replay(length)
        else:
            logits, greedy = self._step_program(length)
        self.greedy_token = greedy
        return logits

    def _static_verify(self, tokens: list[int], pos: int) -> torch.Tensor:
        """A verification with static shapes: padded to verify_width (the padding's cache rows lie past
        what the cache holds and are written over later), replayed from a graph per bucket on CUDA."""
        width = self.verify_width
        length = bucket_length(pos + width, self.bucket, self.window)
        padded = tokens + [tokens[-1]] * (width - len(tokens))
        self._vtokens.copy_(torch.tensor(padded, dtype=torch.long))
        self._vpos.copy_(self.positions[pos : pos + width])
        if self._verify_captured(length):
            return self.verify_graphs.replay(length)
        return self._verify_program(length)

    def _set_verify_width(self, width: int) -> None:
        """Pad verifications to `width` tokens from now on (the graphs of the old width are dropped)."""
        self.verify_width = width
        self._vtokens = torch.zeros(max(width, 1), dtype=torch.long, device=self.device)
        self._vpos = torch.arange(max(width, 1), device=self.device)
        self.verify_graphs.clear()

    def _step_program(self, length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Everything one decode step does, reading only static buffers (token, position, cache)."""
        mask = self.additive_mask((self.positions[:length] <= self._pos)[None, :])
        logits = self.forward(self._token, self._pos, length, fresh=False, mask=mask, compiled=self.plan.compiled)
        return logits, torch.argmax(logits)

    def _verify_program(self, length: int) -> torch.Tensor:
        """Everything one verification does, reading only static buffers (tokens, positions, cache). With
        the compiled step, the same compiled layer functions (compiled once more for this width)."""
        mask = self.additive_mask(self.positions[:length][None, :] <= self._vpos[:, None])
        compiled = self.plan.compiled and self.plan.verify_compiled
        return self.forward(self._vtokens, self._vpos, length, fresh=False, mask=mask, all_logits=True, compiled=compiled)

    # -- graph capture: one graph per bucket, captured at load; a failed capture moves to the next plan ---
    def _step_captured(self, length: int) -> bool:
        """Whether the step of this bucket replays a graph (captured now if needed). A failed capture
        takes the plan's next plan (compiled -> eager -> no graphs) and drops the graphs of the old one."""
        while self.plan.graphs:
            try:
                self.step_graphs.ensure(length)
                return True
            except Exception as err:  # noqa: BLE001 - any capture failure has the same remedy
                what = "the compiled step" if self.plan.compiled else "the step"
                self.plan = self.plan.after_failed_step_capture()
                log.warning("CUDA graph capture of %s failed (%s); now %s", what, err, describe(self.plan))
                self.step_graphs.clear()
                self.verify_graphs.clear()
        return False

    def _verify_captured(self, length: int) -> bool:
        """Likewise for the verification: compiled layers -> eager layers -> verifications without graphs."""
        while self.plan.graphs and self.plan.verify_graphs:
            try:
                self.verify_graphs.ensure(length)
                return True
            except Exception as err:  # noqa: BLE001 - any capture failure has the same remedy
                self.plan = self.plan.after_failed_verify_capture()
                log.warning("CUDA graph capture of the verification failed (%s); now %s", err, describe(self.plan))
                self.verify_graphs.clear()
        return False

    def forget_graphs(self) -> None:
        """Drop every captured graph; the next step or verification of each bucket captures again."""
        self.step_graphs.clear()
        self.verify_graphs.clear()

    def on_device(self):
        return on_device(self.device)

    def capture_all(self) -> None:
        """At load: choose the plan (plan.choose_plan; "auto" is resolved here, once), then capture every
        bucket so that no request pays for a capture."""
        with torch.inference_mode():
            self.plan = choose_plan(self, *self.requested, self.timings)
            self.forget_graphs()
            self.set_step_inputs(0, 0)
            for length in range(self.bucket, self.window + self.bucket, self.bucket):
                length = min(length, self.window)
                self._step_captured(length)
                if self.verify_width:
                    self._verify_captured(length)
        self.ids.clear()  # the cache holds nothing a request can use

    def time_captured_step(self, plan: DecodePlan, length: int, replays: int) -> tuple[float, torch.Tensor]:
        """Run the step as `plan` says (the model runs that plan from now on): capture it, replay it; ms per
        replay and its logits (float32). Used by plan.py while it chooses."""
        self.plan = plan
        graph, (logits, _) = self.record(self._step_program, length, self.device)
        return self.timer(graph, replays), logits.float().clone()


def describe(plan: DecodePlan) -> str:
    """A plan in words, for logs: 'sdpa, compiled, graphs'."""
    return ", ".join([plan.attention, "compiled" if plan.compiled else "eager", "graphs" if plan.graphs else "no graphs"])
