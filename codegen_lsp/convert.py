"""`codegen-lsp convert SRC DST --to gptj`: a CodeGen checkpoint rewritten as GPT-J, which vLLM and TGI serve
natively (their architecture lists have `GPTJForCausalLM`, not `CodeGenForCausalLM`).

CodeGen is GPT-J with one difference in the weights: its attention projections are fused into one `qkv_proj`
whose output rows are laid out for the 4 model-parallel shards CodeGen was trained with. transformers' CodeGen
(`modeling_codegen.py`, CodeGenAttention.forward) reads them as

    qkv = qkv_proj(x).view(..., 4, 3 * local_dim); query, value, key = qkv.split(local_dim, dim=-1)

with local_dim = n_embd / 4: the rows form 4 shards, each holding a query, a VALUE and a key block (in that
order) of local_dim rows, and a projection's heads run across the shards in order. So GPT-J's q_proj is the
query blocks of shards 0..3 stacked, and likewise v_proj and k_proj. Everything else (rotary on the first
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
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# CodeGen's fused qkv projection is laid out for this many model-parallel shards (CodeGenAttention.mp_num).
MP_SHARDS = 4
# Inside each shard: query, value, key (CodeGenAttention.forward splits in this order).
SHARD_ORDER = ("q", "v", "k")
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


class ConvertError(Exception):
    """A failure the user can act on; its message is one line."""


@dataclass(frozen=True)
class CodeGenShape:
    n_layer: int
    n_embd: int
    n_head: int
    rotary_dim: int

    @classmethod
    def from_config(cls, config: dict, source: str) -> "CodeGenShape":
        if config.get("model_type") != "codegen":
            kind = config.get("model_type") or "none"
            raise ConvertError(f"{source} is not a CodeGen checkpoint (model_type '{kind}' in config.json)")
        try:
            shape = cls(int(config["n_layer"]), int(config["n_embd"]), int(config["n_head"]), int(config["rotary_dim"]))
        except (KeyError, TypeError, ValueError) as err:
            raise ConvertError(f"{source}/config.json lacks a valid {err} for a CodeGen model") from None
        if shape.n_embd % shape.n_head or shape.n_head % MP_SHARDS:
            raise ConvertError(
                f"{source}: n_head {shape.n_head} and n_embd {shape.n_embd} do not split into CodeGen's {MP_SHARDS} shards"
            )
        if not 0 < shape.rotary_dim <= shape.n_embd // shape.n_head or shape.rotary_dim % 2:
            raise ConvertError(f"{source}: rotary_dim {shape.rotary_dim} does not fit a head of {shape.n_embd // shape.n_head}")
        return shape


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


def qkv_to_q_k_v(qkv, shape: CodeGenShape):
    """Split CodeGen's fused qkv_proj weight (3 * n_embd, n_embd) into GPT-J's q, k, v (n_embd, n_embd) each."""
    local = shape.n_embd // MP_SHARDS
    if tuple(qkv.shape) != (3 * shape.n_embd, shape.n_embd):
        raise ConvertError(f"qkv_proj.weight has shape {tuple(qkv.shape)}, expected {(3 * shape.n_embd, shape.n_embd)}")
    blocks = qkv.reshape(MP_SHARDS, len(SHARD_ORDER), local, shape.n_embd)
    split = {name: blocks[:, i].reshape(shape.n_embd, shape.n_embd).contiguous() for i, name in enumerate(SHARD_ORDER)}
    return split["q"], split["k"], split["v"]


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


# -- reading the source ------------------------------------------------------------------------------------
def resolve_source(source: str, revision: str | None = None) -> Path:
    """A local directory as it is; a hub id downloaded (or found in the cache when offline)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1:
        raise ConvertError(f"{source} is not a checkpoint directory")
    try:
        from huggingface_hub import list_repo_files, snapshot_download
    except ImportError:  # pragma: no cover - transformers depends on it
        raise ConvertError(f"{source} is not a local directory and huggingface_hub is not installed") from None
    patterns = ["*.json", "*.txt"]
    try:
        files = list_repo_files(source, revision=revision)
        weights = [f for f in files if f.endswith(".safetensors")] or [f for f in files if f.endswith(".bin")]
        patterns += weights
    except Exception:  # offline or unreachable: what the cache holds
        return _cached_snapshot(source, revision)
    try:
        return Path(snapshot_download(source, revision=revision, allow_patterns=patterns))
    except Exception as err:
        raise ConvertError(f"cannot download {source} from the Hugging Face hub: {first_line(err)}") from None


def _cached_snapshot(source: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, revision=revision, local_files_only=True))
    except Exception as err:
        raise ConvertError(
            f"{source} is neither a local directory nor in the Hugging Face cache, and the hub is unreachable ({first_line(err)})"
        ) from None


class SourceWeights:
    """Tensors of a checkpoint by name, read one at a time: safetensors (single or sharded) or a PyTorch
    checkpoint (memory-mapped, so a 32 GB pytorch_model.bin is not read into memory)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = self._weight_files(directory)
        self._where: dict[str, Path] = {}
        self._opened: dict[Path, object] = {}
        for file in self.files:
            for name in self._keys(file):
                self._where[name] = file

    @staticmethod
    def _weight_files(directory: Path) -> list[Path]:
        for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
            index = directory / index_name
            if index.is_file():
                try:
                    weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
                except (OSError, ValueError, KeyError, TypeError) as err:
                    raise ConvertError(f"cannot read {index}: {first_line(err)}") from None
                files = [directory / name for name in dict.fromkeys(weight_map.values())]
                missing = [f.name for f in files if not f.is_file()]
                if missing:
                    raise ConvertError(f"{directory} lacks {missing[0]} (named in {index_name})")
                return files
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (directory / name).is_file():
                return [directory / name]
        raise ConvertError(f"{directory} has no weights (model.safetensors or pytorch_model.bin)")

    def _open(self, file: Path):
        opened = self._opened.get(file)
        if opened is None:
            try:
                if file.suffix == ".safetensors":
                    from safetensors import safe_open

                    opened = safe_open(str(file), framework="pt")
                else:
                    import torch

                    opened = torch.load(file, map_location="cpu", mmap=True, weights_only=True)
            except Exception as err:
                raise ConvertError(f"cannot read {file}: it is corrupt or not a checkpoint ({first_line(err)})") from None
            self._opened[file] = opened
        return opened

    def _keys(self, file: Path) -> list[str]:
        opened = self._open(file)
        return list(opened.keys())

    def names(self) -> set[str]:
        return set(self._where)

    def get(self, name: str):
        file = self._where.get(name)
        if file is None:
            raise ConvertError(f"{self.directory} lacks the tensor {name}: not a complete CodeGen checkpoint")
        opened = self._open(file)
        try:
            return opened.get_tensor(name) if file.suffix == ".safetensors" else opened[name]
        except Exception as err:
            raise ConvertError(f"cannot read {name} from {file}: {first_line(err)}") from None

    def nbytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    def close(self) -> None:
        self._opened.clear()


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
    directory = resolve_source(source, revision)
    config = read_config(directory, source)
    shape = CodeGenShape.from_config(config, source)
    weights = SourceWeights(directory)
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


def write_gptj(work: Path, weights: SourceWeights, plan, shape: CodeGenShape, max_shard_bytes: int, progress: Progress):
    writer = ShardWriter(work, max_shard_bytes)
    started, layer_done = time.monotonic(), -1
    for source_name, target_names in plan:
        tensor = weights.get(source_name)
        if len(target_names) == 3:
            for target, part in zip(target_names, qkv_to_q_k_v(tensor, shape)):
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


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
    except ConvertError as err:
        say(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        say("interrupted; nothing was written")
        return 130
    return 0

