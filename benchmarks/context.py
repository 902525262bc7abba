"""Project context: how likely the model finds a name defined in another module of the project, per prompt the
server builds, with and without retrieval from the workspace index, side by side in one run.

Packages (downloaded at pinned versions into --cache, never installed; none is in the CPython standard library
that the shared pycodegen-tiny model was trained on): jinja2 3.1.6 and click 8.1.8 from PyPI, date-fns 4.1.0
from npm. Cursors:

- cross-file: the name after a `.` (`nodes.¦Const`, `frame.symbols.¦find_ref`) or after `from X import ¦` /
  `import { ¦ } from "./x.js"`, where the name is defined in another module of the package, not in the current
  file, and does not occur in the text before the cursor; not after a receiver that another package's import or
  a builtin binds (`t.¦Dict` is typing's, although the package defines a `Dict` too);
- same-file (control): `self.¦name` (Python) or a call of a name (JS) already used earlier in the file.

Conditions, each through the real `Completer` (cursor context, retrieval, snippets, prompt budget); the engine is
a stand-in that records the prompt, and pycodegen-tiny then scores it:

- current: the current file only (projectContext off, nothing else open);
- open: today's word-overlap snippets, with the defining module open in the editor (projectContext off);
- retrieval: the workspace index, with only the current file open (projectContext on).

Scores: log-likelihood of the right name (the model's own probability of it after the prompt), exact match (the
model's greedy choice at each of the name's tokens is the name's token), and per keystroke (typing the rest of
the line and the next one at each cursor): the server's time for the request with projectContext on and off,
interleaved, the retrieval's own time, and the KV reuse ratio (tokens of each prompt shared with the previous
one). Then the time and memory to index a 5,000-file tree.

    python benchmarks/context.py --per-package 12 --controls 5 --context-tokens 1024
"""

from __future__ import annotations

import argparse
import ast
import builtins
import asyncio
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from codegen_lsp import completion  # noqa: E402
from codegen_lsp.engines.base import FinishReason, Generation  # noqa: E402
from codegen_lsp.settings import parse_settings  # noqa: E402
from codegen_lsp.snippets import Neighbour  # noqa: E402
from codegen_lsp.workspace_index import WorkspaceIndex  # noqa: E402
from codegen_lsp.workspace_index.service import ProjectContext  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PYPI = {"jinja2": "3.1.6", "click": "8.1.8"}
NPM = {"date-fns": "4.1.0"}
WORD = re.compile(r"[A-Za-z_$][\w$]*")


@dataclass
class Cursor:
    package: str
    file: Path
    kind: str  # cross-file or same-file
    document: str  # the file as the user has it (the rest of the cursor's line cut where the name was)
    offset: int
    name: str  # the right continuation
    typing: str  # what the user types next (for the keystroke replay)
    language: str
    defining: Path | None = None  # the module that defines the name (opened in the `open` condition)


# -- the packages ---------------------------------------------------------------------------------------------
def fetch_packages(cache: Path) -> dict[str, Path]:
    """Each package's source folder, downloaded once (pip download / npm pack) and unpacked into `cache`."""
    cache.mkdir(parents=True, exist_ok=True)
    found = {}
    for name, version in PYPI.items():
        folder = cache / f"{name}-{version}"
        if not folder.exists():
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(cache),
                            f"{name}=={version}"], check=True)
            wheel = next(cache.glob(f"{name}-{version}-*.whl"))
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(folder)
        found[name] = folder / name
    for name, version in NPM.items():
        folder = cache / f"{name}-{version}"
        if not folder.exists():
            subprocess.run(["npm", "pack", "-q", f"{name}@{version}"], cwd=cache, check=True, capture_output=True)
            with tarfile.open(cache / f"{name}-{version}.tgz") as archive:
                archive.extractall(folder, filter="data")
        found[name] = folder / "package"
    return found


# -- the cursors ----------------------------------------------------------------------------------------------
def used_before(name: str, prefix: str) -> bool:
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", prefix) is not None


def line_end(text: str, offset: int) -> int:
    end = text.find("\n", offset)
    return len(text) if end < 0 else end


def typing_after(text: str, offset: int, limit: int = 60) -> str:
    """The rest of the cursor's line and the next line: what the user types next."""
    end = line_end(text, line_end(text, offset) + 1)
    return text[offset:end][:limit]


def foreign_names(tree: ast.Module, package: str) -> set[str]:
    """Names a module binds to other packages' modules and names (`import typing as t`, `from os import path`),
    and the builtins: `t.¦Dict` needs typing, not the package's own `Dict` class."""
    found = set(dir(builtins))
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] != package)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] != package:
            found.update(a.asname or a.name for a in node.names)
    return found


def receiver_root(node: ast.Attribute) -> str | None:
    value = node.value
    while isinstance(value, (ast.Attribute, ast.Call, ast.Subscript)):
        value = value.func if isinstance(value, ast.Call) else value.value
    return value.id if isinstance(value, ast.Name) else None


def python_cursors(package: str, root: Path, index: WorkspaceIndex) -> list[Cursor]:
    found = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        entry = index.entry(str(path))
        if entry is None:
            continue
        here = {d.name for d in entry.definitions}
        starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        tree = ast.parse(text)
        foreign = foreign_names(tree, package)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and receiver_root(node) in foreign:
                continue  # `t.Dict`, `re.compile`, `object.__new__`: a name of another package, not a cross-file one
            if isinstance(node, ast.Attribute) and node.end_lineno == node.lineno:
                offset = starts[node.end_lineno - 1] + node.end_col_offset - len(node.attr)
                if text[offset : offset + len(node.attr)] != node.attr:
                    continue  # not ASCII before it on the line
                name, prefix = node.attr, text[:offset]
                document = prefix + text[line_end(text, offset) :]
                elsewhere = [d for d in index.named(name) if d.path != entry.path]
                if name not in here and elsewhere and not used_before(name, prefix):
                    found.append(Cursor(package, path, "cross-file", document, offset, name,
                                        typing_after(text, offset), "python", Path(elsewhere[0].path)))
                elif isinstance(node.value, ast.Name) and node.value.id == "self" and name in here and used_before(name, prefix):
                    found.append(Cursor(package, path, "same-file", document, offset, name, typing_after(text, offset), "python"))
            if isinstance(node, ast.ImportFrom) and node.level > 0 and node.names and node.lineno == node.end_lineno:
                name = node.names[0].name
                line_start = starts[node.lineno - 1]
                found_at = re.search(rf"\bimport\s+({re.escape(name)})\b", text[line_start : line_end(text, line_start)])
                if found_at is None:
                    continue
                offset = line_start + found_at.start(1)
                prefix = text[:offset]
                defining = [d for d in index.named(name) if d.path != entry.path and d.container is None]
                module = index.module(f"{entry.module.rpartition('.')[0]}.{name}") if entry.module else None
                if (defining or module) and name not in here and not used_before(name, prefix):
                    where = Path(defining[0].path if defining else module.path)
                    document = prefix + text[offset + len(name) :]
                    found.append(Cursor(package, path, "cross-file", document, offset, name,
                                        typing_after(text, offset), "python", where))
    return found


JS_NAMED_IMPORT = re.compile(r"^import\s*\{\s*([\w$]+)[^}]*\}\s*from\s*\"(\./[^\"]+)\";", re.MULTILINE)
JS_CALL = re.compile(r"(?<![\w$.])([A-Za-z_$][\w$]*)\(")


def javascript_cursors(package: str, root: Path, index: WorkspaceIndex) -> list[Cursor]:
    found = []
    for path in sorted(root.glob("*.js")):
        text = path.read_text(encoding="utf-8")
        for match in JS_NAMED_IMPORT.finditer(text):
            name, offset = match.group(1), match.start(1)
            defining = path.parent / match.group(2)
            if index.entry(str(defining)) is None or used_before(name, text[:offset]):
                continue
            document = text[:offset] + text[offset + len(name) :]
            found.append(Cursor(package, path, "cross-file", document, offset, name, typing_after(text, offset),
                                "javascript", defining))
        body = text.find("\nexport function")
        for match in JS_CALL.finditer(text, max(body, 0)):
            name, offset = match.group(1), match.start(1)
            if body >= 0 and name not in ("if", "for", "while", "switch", "return", "function") and used_before(name, text[body:offset]):
                document = text[:offset] + text[line_end(text, offset) :]
                found.append(Cursor(package, path, "same-file", document, offset, name, typing_after(text, offset),
                                    "javascript"))
                break
    return found


# -- the server's prompts ---------------------------------------------------------------------------------------
class PromptEngine:
    """A stand-in for the engine that records the prompt the pipeline built and generates nothing (the model
    scores the prompt afterwards): the server's own prompt, at no model cost per keystroke."""

    name = "prompt-recorder"
    context_window = 2048
    fills_in_the_middle = False
    runtime: dict = {}
    model_name = None

    def __init__(self, config) -> None:
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(config.model)
        self.prompts: list[str] = []

    def load(self, report) -> None:
        pass

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text))

    def max_token_chars(self) -> int:
        return 64

    def generate(self, request, cancel, should_stop=None) -> Generation:
        self.prompts.append(request.prompt)
        return Generation("", FinishReason.EOS, prompt_tokens=0)

    def close(self) -> None:
        pass


async def make_completer(model: str, project: ProjectContext, context_tokens: int):
    options = {"model": model, "cacheEntries": 0, "typedThrough": False, "device": "cpu", "contextTokens": context_tokens}
    settings, messages = parse_settings(options)
    assert not messages, messages
    completer = completion.Completer(settings, build=PromptEngine, project=project)
    assert await completer.load(lambda message, pct: None), completer.error
    return completer


async def prompt_of(completer, cursor: Cursor, condition: str, document: str | None = None, offset: int | None = None) -> tuple[str, float]:
    """The prompt the server builds for `cursor` under `condition`, and the request's time in ms."""
    document = cursor.document if document is None else document
    offset = cursor.offset if offset is None else offset
    completer.update_settings(completer.settings.replace(project_context=condition == "retrieval"))
    neighbours = []
    if condition == "open" and cursor.defining is not None:
        neighbours = [Neighbour(str(cursor.defining), cursor.language, cursor.defining.read_text(encoding="utf-8"))]
    engine = completer.engine
    before = len(engine.prompts)
    started = time.perf_counter()
    await completer.complete(cursor.file.as_uri(), document, offset, cursor.language, neighbours=neighbours)
    elapsed = (time.perf_counter() - started) * 1000
    return (engine.prompts[-1] if len(engine.prompts) > before else ""), elapsed


# -- the model's scores -----------------------------------------------------------------------------------------
class Scorer:
    def __init__(self, model: str) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()

    def score(self, prompt: str, name: str) -> tuple[float, bool]:
        """(log-likelihood of `name` after `prompt`, whether greedy picks each of its tokens). Where the name's
        first token merges with the prompt's end (`import ¦x` and ` x`), the merged tokens are scored."""
        whole = self.tokenizer.encode(prompt + name)
        head = self.tokenizer.encode(prompt)
        start = next((i for i, (a, b) in enumerate(zip(whole, head)) if a != b), min(len(head), len(whole)))
        start = max(start, 1)
        ids = self.torch.tensor([whole])
        with self.torch.inference_mode():
            logits = self.model(ids).logits[0, start - 1 : -1].float()
        targets = ids[0, start:]
        logp = self.torch.log_softmax(logits, -1).gather(1, targets[:, None]).sum().item()
        exact = bool((logits.argmax(-1) == targets).all().item())
        return logp, exact


def length_probe(scorer: Scorer, path: Path, lengths=(400, 800, 1200, 1600, 1950)) -> None:
    """The same 15 cursors (`self.writeline`, `self.indent`, ...), scored with the last N tokens of the file before
    each: with a model that uses its whole window, more context never costs much."""
    text = path.read_text(encoding="utf-8")
    cursors = [m.end() for m in re.finditer(r"\n +self\.(?=writeline|write\(|indent|outdent)", text)][200:260:4]
    print(f"\nlength probe ({len(cursors)} cursors in {path.name}): tokens of the file before the cursor -> median LL")
    for keep in lengths:
        scores = []
        for offset in cursors:
            name = WORD.match(text, offset).group(0)
            prompt = scorer.tokenizer.decode(scorer.tokenizer.encode(text[:offset])[-keep:])
            scores.append(scorer.score(prompt, name)[0])
        print(f"  {keep:5d} tokens: median {statistics.median(scores):6.2f}, mean {statistics.mean(scores):6.2f}")


# -- the index of a large tree ---------------------------------------------------------------------------------
def index_large_tree(packages: dict[str, Path], scratch: Path, files: int) -> dict:
    """A tree of `files` real Python modules (the packages' modules copied into numbered folders)."""
    sources = [p for name in PYPI for p in sorted(packages[name].rglob("*.py"))]
    if scratch.exists():
        shutil.rmtree(scratch)
    for i in range(files):
        source = sources[i % len(sources)]
        target = scratch / f"pkg{i // 100:03d}" / f"m{i:05d}_{source.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for folder in scratch.iterdir():
        (folder / "__init__.py").touch()
    before = resident_mb()
    started = time.perf_counter()
    index = WorkspaceIndex([str(scratch)])
    index.build()
    seconds = time.perf_counter() - started
    grown = resident_mb() - before
    return {"files": index.size()["files"], "definitions": index.size()["definitions"], "seconds": seconds,
            "resident_mb": grown, "index": index}


def resident_mb() -> float:
    """The process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- the run --------------------------------------------------------------------------------------------------
CONDITIONS = ("current", "open", "retrieval")


def common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def describe(cursor: Cursor, root: Path, blocks) -> str:
    before = cursor.document[: cursor.offset]
    line = before[before.rfind("\n") + 1 :].strip()[-50:]
    has = any(used_before(cursor.name, block.text) for block in blocks)
    where = f"{cursor.file.relative_to(root)}:{before.count(chr(10)) + 1}"
    reasons = "; ".join(block.reason for block in blocks) or "nothing retrieved"
    return f"{cursor.kind:10} {cursor.name:18} {'in block' if has else 'missing':8} {where:28} {line!r:54} [{reasons}]"


def pct(values: list[float], q: float) -> float:
    data = sorted(values)
    return data[min(len(data) - 1, int(round(q * (len(data) - 1))))] if data else float("nan")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "pycodegen-tiny"))
    parser.add_argument("--cache", default="/tmp/codegen-lsp-context-packages")
    parser.add_argument("--per-package", type=int, default=50, help="cross-file cursors per package")
    parser.add_argument("--controls", type=int, default=15, help="same-file cursors per package")
    parser.add_argument("--replay", type=int, default=10, help="cursors per package whose typing is replayed")
    parser.add_argument("--large-tree", type=int, default=5000, help="files in the generated tree to index (0: skip)")
    parser.add_argument("--context-tokens", type=int, default=0,
                        help="the contextTokens setting (0: the model's window less maxNewTokens)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for scoring")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=0,
                        help="print the N cursors with the least gain from retrieval, and what was retrieved")
    parser.add_argument("--length-probe", action="store_true",
                        help="first: the model's log-likelihood of `self.<method>` in jinja2's compiler.py against how "
                             "much of the file is before it (a model trained on short sequences loses past that length)")
    parser.add_argument("--packages", default=",".join([*PYPI, *NPM]), help="comma list of the packages to use")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    packages = fetch_packages(Path(args.cache))
    scorer = Scorer(args.model)
    if args.length_probe:
        length_probe(scorer, packages["jinja2"] / "compiler.py")
    rng = random.Random(args.seed)
    results: dict[tuple[str, str, str], list[tuple[float, bool]]] = {}
    keystrokes = {"on": [], "off": []}
    reuse = {"current": [0, 0], "retrieval": [0, 0]}
    retrieval_ms: list[float] = []
    shown: list[tuple[float, str]] = []  # (gain, a line about the cursor) for --show
    for package, root in packages.items():
        if package not in args.packages.split(","):
            continue
        project = ProjectContext()
        project.start([str(root)])
        project.built.wait()
        index = project.index
        make = javascript_cursors if package in NPM else python_cursors
        every = make(package, root, index)
        cross = [c for c in every if c.kind == "cross-file"]
        same = [c for c in every if c.kind == "same-file"]
        cursors = rng.sample(cross, min(args.per_package, len(cross))) + rng.sample(same, min(args.controls, len(same)))
        completer = await make_completer(args.model, project, args.context_tokens)
        print(f"{package}: {index.size()['files']} files indexed, {len(cross)} cross-file and {len(same)} same-file "
              f"cursors found, {len(cursors)} used", file=sys.stderr)
        for number, cursor in enumerate(cursors, 1):
            for condition in CONDITIONS:
                if condition == "open" and cursor.kind == "same-file":
                    continue
                prompt, _ = await prompt_of(completer, cursor, condition)
                results.setdefault((package, cursor.kind, condition), []).append(scorer.score(prompt, cursor.name))
            if args.show:
                blocks = project._last[1] if project._last is not None else []
                gain = results[(package, cursor.kind, "retrieval")][-1][0] - results[(package, cursor.kind, "current")][-1][0]
                shown.append((gain, f"{package:8} {describe(cursor, root, blocks)}"))
            print(f"\r  {number}/{len(cursors)} cursors", end="", file=sys.stderr)
        print(file=sys.stderr)
        # Keystrokes: type what follows each of some cursors, with projectContext on and off in turn.
        for cursor in cursors[: args.replay] + [c for c in cursors if c.kind == "same-file"][: args.replay // 2]:
            previous = {"current": None, "retrieval": None}
            before, after = cursor.document[: cursor.offset], cursor.document[cursor.offset :]
            for typed in range(len(cursor.typing) + 1):
                document = before + cursor.typing[:typed] + after
                offset = cursor.offset + typed
                order = ("retrieval", "current") if typed % 2 else ("current", "retrieval")
                for condition in order:
                    prompt, elapsed = await prompt_of(completer, cursor, condition, document, offset)
                    keystrokes["on" if condition == "retrieval" else "off"].append(elapsed)
                    if not prompt:
                        continue  # a cursor mid-word: no request reaches the model
                    ids = scorer.tokenizer.encode(prompt)
                    if previous[condition] is not None:
                        reuse[condition][0] += common_prefix(previous[condition], ids)
                        reuse[condition][1] += len(ids)
                    previous[condition] = ids
        retrieval_ms.extend(project._retrieval_ms)
        completer.close()
        project.close()

    budget = args.context_tokens or PromptEngine.context_window - 64
    print(f"\nmodel: {Path(args.model).name}; prompt budget {budget} tokens, projectContextShare 0.25; packages: "
          + ", ".join(f"{n} {v}" for n, v in {**PYPI, **NPM}.items()))
    print(f"\n{'package':10} {'cursors':10} {'condition':10} {'n':>4} {'mean LL':>8} {'median LL':>9} {'gain (med)':>10} {'exact':>6}")
    for (package, kind, condition), scores in sorted(results.items(), key=lambda kv: (kv[0][0], kv[0][1], CONDITIONS.index(kv[0][2]))):
        lls = [s[0] for s in scores]
        base = [s[0] for s in results[(package, kind, "current")]]
        gain = statistics.median([a - b for a, b in zip(lls, base)])
        exact = sum(s[1] for s in scores) / len(scores)
        print(f"{package:10} {kind:10} {condition:10} {len(scores):4d} {statistics.mean(lls):8.2f} "
              f"{statistics.median(lls):9.2f} {gain:+10.2f} {exact:6.0%}")
    for kind in ("cross-file", "same-file"):
        for condition in CONDITIONS:
            if condition == "open" and kind == "same-file":
                continue
            pairs = [(s[0], b[0]) for (p, k, c), scores in results.items() if k == kind and c == condition
                     for s, b in zip(scores, results[(p, k, "current")])]
            gains = [a - b for a, b in pairs]
            if not pairs:
                continue
            print(f"{'all':10} {kind:10} {condition:10} {len(pairs):4d} {statistics.mean(a for a, _ in pairs):8.2f} "
                  f"{statistics.median(a for a, _ in pairs):9.2f} {statistics.median(gains):+10.2f}")
    print(f"\nper keystroke ({len(keystrokes['on'])} requests each, interleaved): server time with projectContext "
          f"on p50 {pct(keystrokes['on'], .5):.2f} ms p95 {pct(keystrokes['on'], .95):.2f} ms, off p50 "
          f"{pct(keystrokes['off'], .5):.2f} ms p95 {pct(keystrokes['off'], .95):.2f} ms; added p50 "
          f"{pct(keystrokes['on'], .5) - pct(keystrokes['off'], .5):+.2f} ms p95 "
          f"{pct(keystrokes['on'], .95) - pct(keystrokes['off'], .95):+.2f} ms; the retrieval itself p50 "
          f"{pct(retrieval_ms, .5):.2f} ms p95 {pct(retrieval_ms, .95):.2f} ms")
    for condition, (shared, total) in reuse.items():
        print(f"KV reuse while typing, {condition}: {shared / max(total, 1):.1%} of prompt tokens shared with the previous prompt")
    if args.large_tree:
        large = index_large_tree(packages, Path(args.cache) / "large-tree", args.large_tree)
        print(f"\nindexing a {args.large_tree}-file tree: {large['files']} files, {large['definitions']} definitions in "
              f"{large['seconds']:.1f} s; resident memory grew {large['resident_mb']:.0f} MB")
    print(f"machine: {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    if args.show:
        print(f"\nthe {args.show} cursors retrieval helped least (gain in nats, the kind, the name, whether a retrieved "
              "block has it, the code before the cursor, the blocks' reasons):")
        for gain, line in sorted(shown)[: args.show]:
            print(f"{gain:+7.2f} {line}")


if __name__ == "__main__":
    asyncio.run(main())
