"""`codegen-lsp convert SRC DST --to gptj`: the GPT-J checkpoint is the same model as the CodeGen one it came
from (float32 logits within 1e-4, the same greedy tokens), on tiny CodeGen checkpoints of several shapes built
here and on the shared pycodegen-tiny; bad input gets one clear line and a non-zero exit, and leaves nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from codegen_lsp.convert import ConvertError, check_space, convert_to_gptj
from lsp_helpers import SERVER_COMMAND, complete_in_process, inline, open_document, start, stats
from remote_servers import require_transformers_serve, start_transformers_serve
from tiny_model import build_tiny_model

PROMPT = "import os\n\ndef read_lines(path):\n    with open(path) as f:\n        return "


def load(directory: Path):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()


def assert_same_model(original_dir: Path, converted_dir: Path, prompt: str = PROMPT, new_tokens: int = 12) -> None:
    import torch
    from transformers import AutoTokenizer

    original, converted = load(original_dir), load(converted_dir)
    assert type(original).__name__ == "CodeGenForCausalLM" and type(converted).__name__ == "GPTJForCausalLM"
    tokenizer = AutoTokenizer.from_pretrained(converted_dir)  # the tokenizer files came along
    ids = torch.tensor([tokenizer.encode(prompt)])
    with torch.no_grad():
        a, b = original(ids).logits, converted(ids).logits
        assert (a - b).abs().max().item() <= 1e-4, (a - b).abs().max().item()
        greedy = dict(max_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
        assert original.generate(ids, **greedy).tolist() == converted.generate(ids, **greedy).tolist()


# (n_embd, n_head, rotary_dim): rotary on part of each head / on all of it; 2 and 4 heads per model-parallel shard
SHAPES = {
    "partial-rotary-2-heads-per-shard": (64, 8, 4),
    "full-rotary-4-heads-per-shard": (128, 16, 8),
}


@pytest.fixture(scope="module", params=list(SHAPES))
def shaped_model(request, tmp_path_factory) -> Path:
    n_embd, n_head, rotary_dim = SHAPES[request.param]
    return build_tiny_model(
        tmp_path_factory.mktemp(request.param), n_embd=n_embd, n_head=n_head, rotary_dim=rotary_dim, n_layer=3, seed=7
    )


@pytest.mark.slow
def test_converted_checkpoint_is_the_same_model(shaped_model, tmp_path):
    out = convert_to_gptj(str(shaped_model), tmp_path / "gptj")
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["GPTJForCausalLM"] and config["model_type"] == "gptj"
    assert (out / "model.safetensors").is_file() and (out / "README.md").is_file()
    assert_same_model(shaped_model, out)


@pytest.mark.slow
def test_small_shards_get_an_index_and_load_the_same(tiny_model_dir, tmp_path):
    out = convert_to_gptj(str(tiny_model_dir), tmp_path / "gptj", max_shard_bytes=200_000)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) > 2 and shards[0].endswith(f"-of-{len(shards):05d}.safetensors")
    assert not (out / "model.safetensors").exists()
    assert_same_model(tiny_model_dir, out)


@pytest.mark.slow
def test_a_pytorch_bin_checkpoint_converts_too(tiny_model_dir, tmp_path):
    """The hub's Salesforce/codegen-* checkpoints are pytorch_model.bin files (read memory-mapped)."""
    import shutil

    import torch
    from safetensors.torch import load_file

    source = tmp_path / "bin-checkpoint"
    shutil.copytree(tiny_model_dir, source)
    state = load_file(source / "model.safetensors")
    for i in range(2):  # what old checkpoints also carry: buffers that are not weights
        state[f"transformer.h.{i}.attn.causal_mask"] = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    (source / "model.safetensors").unlink()
    torch.save(state, source / "pytorch_model.bin")
    out = convert_to_gptj(str(source), tmp_path / "gptj")
    assert_same_model(tiny_model_dir, out)


@pytest.mark.slow
@pytest.mark.shared_model
def test_shared_pycodegen_tiny_converts_to_the_same_model(shared_model_dir, tmp_path):
    out = convert_to_gptj(str(shared_model_dir), tmp_path / "pycodegen-tiny-gptj")
    assert_same_model(shared_model_dir, out, new_tokens=24)


# -- the command line: one clear line, a non-zero exit, nothing left behind ---------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "codegen_lsp", "convert", *args], capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.slow
def test_cli_converts_with_progress_on_stderr_and_nothing_on_stdout(tiny_model_dir, tmp_path):
    result = run_cli(str(tiny_model_dir), str(tmp_path / "out"), "--to", "gptj")
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert "layer 2/2 converted" in result.stderr and "wrote " in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary directory left


@pytest.mark.slow
def test_cli_bad_input_one_line_and_nothing_written(tiny_model_dir, tmp_path):
    import shutil

    def fails(args, expected: str) -> None:
        before = sorted(p.name for p in tmp_path.iterdir())
        result = run_cli(*args)
        assert result.returncode != 0
        line = error_line(result)
        assert expected in line, line
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing half-written

    not_codegen = tmp_path / "llama"
    not_codegen.mkdir()
    (not_codegen / "config.json").write_text(json.dumps({"model_type": "llama"}))
    fails([str(not_codegen), str(tmp_path / "a")], "is not a CodeGen checkpoint (model_type 'llama'")

    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    shutil.copy(tiny_model_dir / "config.json", no_weights)
    fails([str(no_weights), str(tmp_path / "b")], "has no weights")

    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny_model_dir, corrupt)
    data = (corrupt / "model.safetensors").read_bytes()
    (corrupt / "model.safetensors").write_bytes(data[: len(data) // 2])
    fails([str(corrupt), str(tmp_path / "c")], "corrupt")

    fails([str(tmp_path / "nowhere"), str(tmp_path / "d")], "is not a checkpoint directory")
    fails(["no-such-org/no-such-model", str(tmp_path / "e")], "neither a local directory nor in the Hugging Face cache")
    fails([str(tiny_model_dir), str(tmp_path / "f"), "--to", "llama"], "cannot convert to 'llama'")

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("mine")
    fails([str(tiny_model_dir), str(busy)], "is not empty (pass --force")
    assert (busy / "keep.txt").read_text() == "mine"
    result = run_cli(str(tiny_model_dir), str(busy), "--force")
    assert result.returncode == 0 and not (busy / "keep.txt").exists() and (busy / "model.safetensors").is_file()


def test_not_enough_disk_space_is_said_before_anything_is_written(tmp_path):
    with pytest.raises(ConvertError, match="not enough disk space in .*needs ~"):
        check_space(tmp_path, 10**18)


# -- served for real: the converted checkpoint behind `transformers serve`, codegen-lsp over stdio in front ------------
@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def lsp(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


@pytest.mark.slow
async def test_served_gptj_completes_like_the_original_in_process(lsp: LanguageClient, wordy_model_dir, tmp_path):
    """What a team deploys: convert, serve the GPT-J checkpoint with a GPT-J server (`transformers serve` here;
    vLLM or TGI on a cluster), point codegen-lsp at it. Greedy completions over LSP equal the in-process engine's
    on the original CodeGen checkpoint, at several cursors."""
    require_transformers_serve()
    converted = convert_to_gptj(str(wordy_model_dir), tmp_path / "gptj")
    server = start_transformers_serve(converted, tmp_path)
    uri = "file:///work/served.py"
    text = "import os\n\ndef load(path):\n    full = os.path.join(\n\nclass Store:\n    def get(self, key):\n        return self.data.get(\n"
    cursors = [(3, 24), (7, 29)]  # after "(": no token healing (the remote engine cannot constrain tokens)
    try:
        await start(lsp, converted, apiBase=server.api_base, maxNewTokens=8)
        assert (await stats(lsp))["engine"] == "openai"
        open_document(lsp, uri, text)
        offsets = [sum(len(l) + 1 for l in text.split("\n")[:line]) + character for line, character in cursors]
        for (line, character), offset in zip(cursors, offsets):
            served = [item.insert_text for item in (await inline(lsp, uri, line, character)).items]
            local = await complete_in_process(wordy_model_dir, uri, text, offset, maxNewTokens=8, engine="transformers")
            assert served and served == local, (line, served, local)
    finally:
        server.stop()


# -- the route without conversion: vLLM's Transformers backend, tensor-parallel by CodeGen's own tp plan ---------------
@pytest.mark.parametrize("ranks", [1, 2, 4, 8])
def test_codegen_tp_plan_splits_qkv_into_whole_heads_only_for_up_to_4_ranks(ranks):
    """transformers' CodeGenConfig.base_model_tp_plan splits qkv_proj "colwise" (each rank a contiguous block of
    output rows), which vLLM's Transformers backend follows. Each rank then runs CodeGenAttention's own lines
    (`view(..., -1, 3 * local_dim)`, `split(local_dim)` with local_dim = n_embd / 4 of the FULL model). For 1, 2
    and 4 ranks every rank holds whole model-parallel shards, so its q/k/v heads are exactly the full model's heads
    of that rank; for 8 ranks a rank holds half a shard and the view cannot even be formed. The GPT-J form has
    no such limit (heads split evenly whenever n_head divides by the rank count)."""
    import torch
    from transformers import CodeGenConfig

    config = CodeGenConfig(n_embd=128, n_head=16, rotary_dim=8)
    assert config.base_model_tp_plan["h.*.attn.qkv_proj"] == "colwise"
    embd, head_dim, local = 128, 8, 128 // 4
    torch.manual_seed(0)
    weight, x = torch.randn(3 * embd, embd), torch.randn(1, 5, embd)

    def heads(rows):  # CodeGenAttention.forward, on whatever rows this rank holds
        qkv = (x @ rows.T).view(1, 5, -1, 3 * local)
        query, value, key = qkv.split(local, dim=-1)
        return [t.reshape(1, 5, -1, head_dim) for t in (query, key, value)]

    full = heads(weight)
    block = 3 * embd // ranks
    if ranks > 4:
        with pytest.raises(RuntimeError):
            heads(weight[:block])
        return
    per_rank = [heads(weight[r * block : (r + 1) * block]) for r in range(ranks)]
    for i in range(3):  # q, k, v: the same sums over fewer rows (another BLAS blocking may round differently)
        torch.testing.assert_close(torch.cat([rank[i] for rank in per_rank], dim=2), full[i], rtol=1e-5, atol=1e-5)
