"""`codegen-lsp convert SRC DST --to gptj`: a CodeGen checkpoint rewritten as GPT-J, which vLLM and TGI serve
natively (their architecture lists have `GPTJForCausalLM`, not `CodeGenForCausalLM`).

CodeGen is GPT-J with one difference in the weights: its attention projections are fused into one `qkv_proj`
whose output rows are laid out for the 4 model-parallel shards CodeGen was trained with (each shard a query, a
VALUE and a key block: engines/local/codegen/checkpoint.py, which this command reads checkpoints through). So
GPT-J's q_proj is the query blocks of shards 0..3 stacked, and likewise v_proj and k_proj. Everything else (rotary on the first
`rotary_dim` channels of each head, the parallel attention + MLP block, the layer names) is already GPT-J's.
FauxPilot served CodeGen in production by the same conversion.

The conversion streams: one source tensor at a time is read (safetensors, or a PyTorch checkpoint memory-mapped),
converted and added to the output shard being filled; a shard is written when it is full. Peak memory is about one
shard plus one tensor (shards of at most 5 GB by default), so that codegen-16B converts on an ordinary machine.
Everything is written into a temporary directory beside DST and renamed into place at the end: a failure (bad
input, a full disk, Ctrl-C) leaves DST as it was.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from .engines.local.codegen.checkpoint import (
    CheckpointError,
    CheckpointTensors,
    CodeGenShape,
    first_line,
    resolve_checkpoint,
    split_qkv,
)

DEFAULT_MAX_SHARD_BYTES = 5 * 1000**3
# Files copied as they are: the tokenizer and the generation defaults.
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "special_tokens_map.json",
    "added_tokens.json", "generation_config.json",
)  # fmt: skip
# Buffers old CodeGen checkpoints carry that are not weights (transformers rebuilds them).
IGNORED = re.compile(r"^transformer\.h\.\d+\.attn\.(causal_mask|masked_bias|bias)$")
# Config fields GPT-J shares with CodeGen, copied as they are.
SHARED_CONFIG = (
    "vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "rotary_dim", "n_inner", "activation_function",
    "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range", "use_cache",
    "bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings",
)  # fmt: skip
TARGETS = ("gptj",)

Progress = Callable[[str], None]


class ConvertError(CheckpointError):
    """A failure of the conversion itself (the destination, the disk) the user can act on; its message is one
    line. What is wrong with the source checkpoint is a `CheckpointError`."""


def gptj_config(config: dict, source: str) -> dict:
    """GPT-J's config.json for a CodeGen config: the same fields, the other architecture."""
    out = {"architectures": ["GPTJForCausalLM"], "model_type": "gptj"}
    out.update({key: config[key] for key in SHARED_CONFIG if key in config})
    for key in ("dtype", "torch_dtype"):
        if key in config:
            out["dtype"] = config[key]
            break
    out["converted_from"] = {"checkpoint": source, "architecture": "CodeGenForCausalLM", "by": "codegen-lsp convert"}
    return out


def converted_names(shape: CodeGenShape, tied: bool) -> list[tuple[str, list[str]]]:
    """(CodeGen tensor, the GPT-J tensors it becomes), in the order they are written."""
    plan = [("transformer.wte.weight", ["transformer.wte.weight"])]
    for i in range(shape.n_layer):
        layer = f"transformer.h.{i}"
        plan += [(f"{layer}.{name}", [f"{layer}.{name}"]) for name in ("ln_1.weight", "ln_1.bias")]
        plan.append((f"{layer}.attn.qkv_proj.weight", [f"{layer}.attn.{p}_proj.weight" for p in ("q", "k", "v")]))
        plan += [
            (f"{layer}.{name}", [f"{layer}.{name}"])
            for name in ("attn.out_proj.weight", "mlp.fc_in.weight", "mlp.fc_in.bias", "mlp.fc_out.weight", "mlp.fc_out.bias")
        ]
    plan += [(name, [name]) for name in ("transformer.ln_f.weight", "transformer.ln_f.bias")]
    if not tied:
        plan += [(name, [name]) for name in ("lm_head.weight", "lm_head.bias")]
    return plan


# -- writing ----------------------------------------------------------------------------------------------
class ShardWriter:
    """Fills safetensors shards up to max_bytes; names them model-0000k-of-0000N at the end (or
    model.safetensors when one is enough), with the index transformers, vLLM and TGI read."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory, self.max_bytes = directory, max_bytes
        self._pending: dict = {}
        self._pending_bytes = 0
        self._written: list[tuple[Path, list[str]]] = []
        self.total_bytes = 0

    def add(self, name: str, tensor) -> None:
        size = tensor.numel() * tensor.element_size()
        if self._pending and self._pending_bytes + size > self.max_bytes:
            self.flush()
        self._pending[name] = tensor
        self._pending_bytes += size
        self.total_bytes += size

    def flush(self) -> None:
        if not self._pending:
            return
        from safetensors.torch import save_file

        path = self.directory / f"shard-{len(self._written) + 1:05d}.safetensors"
        save_file(self._pending, str(path), metadata={"format": "pt"})
        self._written.append((path, list(self._pending)))
        self._pending, self._pending_bytes = {}, 0

    def finish(self) -> list[str]:
        self.flush()
        count = len(self._written)
        if count == 1:
            self._written[0][0].rename(self.directory / "model.safetensors")
            return ["model.safetensors"]
        weight_map, names = {}, []
        for k, (path, tensors) in enumerate(self._written, start=1):
            final = f"model-{k:05d}-of-{count:05d}.safetensors"
            path.rename(self.directory / final)
            names.append(final)
            weight_map.update({tensor: final for tensor in tensors})
        index = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
        (self.directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
        return names


def model_card(source: str, config: dict) -> str:
    return (
        "---\nlibrary_name: transformers\ntags: [gptj, codegen, code]\n"
        f"base_model: {source}\n---\n\n"
        f"# {Path(source).name or source}, as GPT-J\n\n"
        f"The CodeGen checkpoint `{source}` rewritten as `GPTJForCausalLM` by `codegen-lsp convert --to gptj`, so that\n"
        "engines that serve GPT-J natively (vLLM, TGI, transformers) serve it. Only the layout changed: CodeGen's fused\n"
        "`qkv_proj` (4 model-parallel shards, each query, value, key) became GPT-J's `q_proj`, `k_proj` and `v_proj`;\n"
        "every other tensor is copied bit for bit. The same model: in float32 its logits equal the original's (the\n"
        "codegen-lsp test suite checks this on several shapes). The license and intended use are the source's.\n\n"
        f"Layers {config.get('n_layer')}, width {config.get('n_embd')}, heads {config.get('n_head')}, "
        f"rotary dimensions {config.get('rotary_dim')}, context {config.get('n_positions')} tokens.\n"
    )


def prepare_destination(destination: Path, force: bool) -> None:
    if destination.exists() and not destination.is_dir():
        raise ConvertError(f"{destination} exists and is not a directory")
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise ConvertError(f"{destination} is not empty (pass --force to replace it)")
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConvertError(f"cannot create {destination.parent}: {err.strerror or err}") from None


def check_space(where: Path, needed: int) -> None:
    free = shutil.disk_usage(where).free
    if free < needed * 1.02 + 16 * 2**20:
        raise ConvertError(f"not enough disk space in {where}: the conversion needs ~{gb(needed)}, {gb(free)} is free")


def apply_umask(work: Path) -> None:
    """mkdtemp makes a private directory (and safetensors private files): give them the user's usual modes,
    since a serving process often runs as another user."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(work, 0o777 & ~mask)
    for path in work.iterdir():
        os.chmod(path, 0o666 & ~mask)


def move_into_place(work: Path, destination: Path) -> None:
    """Rename the finished directory to DST; a replaced DST goes only once the new one is in place."""
    old = None
    if destination.is_dir():
        if any(destination.iterdir()):
            old = destination.with_name(f".{destination.name}.replaced-{os.getpid()}")
            destination.rename(old)
        else:
            destination.rmdir()
    work.rename(destination)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# -- the conversion ---------------------------------------------------------------------------------------
def convert_to_gptj(
    source: str,
    destination: str | os.PathLike,
    *,
    force: bool = False,
    revision: str | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    progress: Progress = lambda line: None,
) -> Path:
    """Write the GPT-J form of the CodeGen checkpoint `source` (a directory or a hub id) to `destination`."""
    destination = Path(destination).expanduser().absolute()
    prepare_destination(destination, force)
    directory = resolve_checkpoint(source, revision)
    config = read_config(directory, source)
    shape = CodeGenShape.from_config(config, source)
    weights = CheckpointTensors.of(directory)
    tied = bool(config.get("tie_word_embeddings")) and "lm_head.weight" not in weights.names()
    plan = converted_names(shape, tied)
    unknown = sorted(weights.names() - {name for name, _ in plan} - {n for n in weights.names() if IGNORED.match(n)})
    if unknown:
        raise ConvertError(f"{source} holds tensors a CodeGen checkpoint does not ({unknown[0]}, ...): not converted")
    check_space(destination.parent, weights.nbytes())
    work = Path(tempfile.mkdtemp(prefix=f".{destination.name}.converting-", dir=destination.parent))
    try:
        written = write_gptj(work, weights, plan, shape, max_shard_bytes, progress)
        (work / "config.json").write_text(json.dumps(gptj_config(config, source), indent=2) + "\n", encoding="utf-8")
        copied = [name for name in TOKENIZER_FILES if (directory / name).is_file()]
        for name in copied:
            shutil.copyfile(directory / name, work / name)
        if not any(name.startswith(("tokenizer", "vocab")) for name in copied):
            progress(f"warning: {source} has no tokenizer files; a server will need one (e.g. Salesforce/codegen-350M-mono's)")
        (work / "README.md").write_text(model_card(source, config), encoding="utf-8")
        apply_umask(work)
        move_into_place(work, destination)
    except OSError as err:
        shutil.rmtree(work, ignore_errors=True)
        if err.errno == errno.ENOSPC:
            raise ConvertError(f"no space left on the device while writing {destination}; nothing was written") from None
        raise ConvertError(f"writing {destination} failed: {err.strerror or err}; nothing was written") from None
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        weights.close()
    progress(f"wrote {destination}: {len(written)} shard(s), {gb(weights_total(written, destination))}")
    return destination


def write_gptj(work: Path, weights: CheckpointTensors, plan, shape: CodeGenShape, max_shard_bytes: int, progress: Progress):
    writer = ShardWriter(work, max_shard_bytes)
    started, layer_done = time.monotonic(), -1
    for source_name, target_names in plan:
        tensor = weights.get(source_name)
        if len(target_names) == 3:
            for target, part in zip(target_names, split_qkv(tensor, shape.n_embd)):
                writer.add(target, part)
        else:
            writer.add(target_names[0], tensor.contiguous())
        del tensor
        layer = layer_of(source_name)
        if layer is not None and layer != layer_done and source_name.endswith("mlp.fc_out.bias"):
            layer_done = layer
            progress(f"layer {layer + 1}/{shape.n_layer} converted ({gb(writer.total_bytes)}, {time.monotonic() - started:.0f} s)")
    return writer.finish()


def layer_of(name: str) -> int | None:
    match = re.match(r"transformer\.h\.(\d+)\.", name)
    return int(match.group(1)) if match else None


def weights_total(files: list[str], directory: Path) -> int:
    return sum((directory / name).stat().st_size for name in files)


def read_config(directory: Path, source: str) -> dict:
    path = directory / "config.json"
    if not path.is_file():
        raise ConvertError(f"{source} has no config.json: not a Hugging Face checkpoint")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConvertError(f"cannot read {path}: {first_line(err)}") from None
    if not isinstance(config, dict):
        raise ConvertError(f"{path} is not a JSON object")
    return config


def gb(size: float) -> str:
    return f"{size / 1000**3:.2f} GB" if size >= 1000**3 else f"{size / 1000**2:.1f} MB"


def parse_size(text: str) -> int:
    """'5GB', '500MB', '2GiB' or a number of bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", text, re.I)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    unit = (match.group(2) or "").lower().rstrip("b")
    scale = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
    return int(float(match.group(1)) * scale[unit])


def run_convert(source: str, destination: str, target: str, force: bool, revision: str | None, max_shard: str) -> int:
    """The CLI command: progress and errors on stderr, one line each; 0 on success, 1 on failure, 2 on bad flags."""

    def say(line: str) -> None:
        print(f"codegen-lsp convert: {line}", file=sys.stderr, flush=True)

    if target not in TARGETS:
        say(f"cannot convert to '{target}' (only: {', '.join(TARGETS)})")
        return 2
    try:
        max_bytes = parse_size(max_shard)
    except ValueError as err:
        say(str(err))
        return 2
    try:
        convert_to_gptj(source, destination, force=force, revision=revision, max_shard_bytes=max_bytes, progress=say)
    except CheckpointError as err:  # ConvertError too
        say(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; nothing was written")
        return 130
    return 0

