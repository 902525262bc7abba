"""Completion quality on real Python files nobody wrote for this benchmark: raw model output vs what the
server shows after post-processing, side by side in one run.

The files are sources of the project's own dependencies as installed in the virtualenv (cachetools, pygls,
attrs, cattrs, transformers): real code, and not part of the CPython standard library that the shared
pycodegen-tiny model was trained on. In each file the benchmark picks cursors of three kinds:

- line start: at the indentation of a one-line statement inside a function body (the statement removed);
- mid-line: inside such a statement after a `.`, `(`, `=` or space (the rest of the line removed);
- after opener: at the end of a `def`/`if`/`for`/... line whose body (at most 8 lines) is removed;
- inside an auto-closed pair: right after a `(`, `[`, `{` or quote in such a statement, with its closer already
  typed (as VS Code and autopairs plugins leave it) and the rest of the line removed;
- before a word on the line: a qualifier (`self.`, `os.`) removed from before an attribute of a one-line
  statement, past its first word; the code after the cursor stays. A left-to-right model is not asked there;
  `--ask-before-code` asks it anyway (as with a fill-in-the-middle model) to measure whether that pays;
- signature with auto-closed closer: right after the `(` of a `def` line, with its `)` typed and the rest of the
  signature and the body (at most 12 lines) removed, as `def area(¦)` is when one starts writing a function.
  Two more scores for this kind: the share of completions that write a body (a line indented below the `def`)
  and the share of documents that parse after accepting; with `--before PATH` (an export of another commit's
  `codegen_lsp`) the same raw texts also go through that code's filters, so before and after are one run.

Each cursor is asked through the real `Completer` (prompt, token healing, the engine, post-processing);
the engine is wrapped only to record the raw text and to let it run to max_new_tokens (no early stop), so
"raw" is exactly what the model wrote for the pipeline's prompt. Scores, against the code that was removed:
next-line exact match, edit similarity (difflib ratio), overrun (a line that leaves the block the cursor
is in), unparsable file (ast.parse of the file with the completion in the hole fails; every original
parses), and a stray leading space at line starts. Scores read the document the user has after accepting: a
shown completion that replaces the closers after the cursor replaces them; raw text is inserted before them.
The code under test is whatever `codegen_lsp` is on the path: run it against an export of another commit
(`PYTHONPATH=/tmp/before`) for a before/after comparison with the same cursors.

    python benchmarks/quality.py --model ../shared/models/pycodegen-tiny --per-kind 4 --show 6
    python benchmarks/quality.py --quantize none,int8,int4   # the fast engine's weights side by side
    git archive main codegen_lsp | tar -x -C /tmp/before
    python benchmarks/quality.py --kinds "signature with auto-closed closer" --before /tmp/before

With --quantize, every variant runs through the fast engine over the same cursors; the table gains a
column pair per variant, and a greedy-token agreement line compares each with the unquantized model,
teacher-forced over each cursor's prompt: the share of the unquantized model's own greedy continuation
(max_new_tokens tokens) that the quantized model predicts too, and the share of cursors whose raw
completion is the same text.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import difflib
import os
import random
import re
import statistics
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from codegen_lsp.completion import Completer  # noqa: E402
from codegen_lsp.settings import parse_settings  # noqa: E402
from codegen_lsp.snippets import Neighbour  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])
FILES = (
    "cachetools/__init__.py",
    "pygls/workspace/text_document.py",
    "attr/validators.py",
    "cattrs/dispatch.py",
    "transformers/utils/versions.py",
)
PAIR = "inside an auto-closed pair"
SIGNATURE = "signature with auto-closed closer"
BEFORE_WORD = "before a word on the line"
KINDS = ("line start", "mid-line", "after opener", PAIR, SIGNATURE, BEFORE_WORD)
QUALIFIER = re.compile(r"(?<![\w.])[A-Za-z_]\w*\.(?=[A-Za-z_])")  # `self.` in `self.x`: removed, then asked back
MAX_SIGNATURE_BODY_LINES = 12
CLOSING = {"(": ")", "[": "]", "{": "}", '"': '"', "'": "'"}
MAX_BODY_LINES = 8


@dataclass(frozen=True)
class Case:
    file: str
    kind: str
    prefix: str
    suffix: str
    target: str  # the code that was removed
    block_indent: int  # lines of a completion indented less than this have left the block
    closers: str = ""  # typed after the cursor by the editor (the pair kind): the document is prefix+closers+suffix


# -- cursors -------------------------------------------------------------------------------------------------
def cases_of(path: Path, per_kind: int, rng: random.Random) -> list[Case]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    lines = source.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    one_line, openers, signatures = [], [], []
    for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        header = lines[function.lineno - 1]
        body_lines = function.end_lineno - function.body[0].lineno
        if header.lstrip().startswith("def ") and header.rstrip().endswith(":") and "(" in header \
                and function.body[0].lineno > function.lineno and body_lines < MAX_SIGNATURE_BODY_LINES:
            signatures.append(function)
        for node in ast.walk(function):
            if not isinstance(node, ast.stmt) or node is function:
                continue
            if _is_docstring(node):
                continue
            if node.lineno == node.end_lineno and not hasattr(node, "body"):
                one_line.append(node)
            body = getattr(node, "body", None)
            if body and lines[node.lineno - 1].rstrip().endswith(":") and body[0].lineno > node.lineno:
                if body[-1].end_lineno - body[0].lineno < MAX_BODY_LINES:
                    openers.append(node)
    name = str(path.relative_to(SITE))
    found: list[Case] = []
    for node in _sample(one_line, per_kind, rng):
        i = node.lineno - 1
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        cursor = starts[i] + indent
        found.append(Case(name, "line start", source[:cursor], source[starts[i + 1] - 1 :], line[indent:], indent))
    mid = [n for n in one_line if _cut_points(lines[n.lineno - 1])]
    for node in _sample(mid, per_kind, rng):
        i = node.lineno - 1
        line = lines[i]
        cut = rng.choice(_cut_points(line))
        indent = len(line) - len(line.lstrip())
        found.append(Case(name, "mid-line", source[: starts[i] + cut], source[starts[i + 1] - 1 :], line[cut:], indent))
    paired = [n for n in one_line if _pair_points(lines[n.lineno - 1])]
    for node in _sample(paired, per_kind, rng):
        i = node.lineno - 1
        line = lines[i]
        opener = rng.choice(_pair_points(line))
        indent = len(line) - len(line.lstrip())
        found.append(Case(name, PAIR, source[: starts[i] + opener + 1], source[starts[i + 1] - 1 :], line[opener + 1 :],
                          indent, closers=CLOSING[line[opener]]))
    qualified = [n for n in one_line if _qualifiers(lines[n.lineno - 1])]
    for node in _sample(qualified, per_kind, rng):
        i = node.lineno - 1
        found_at = rng.choice(_qualifiers(lines[i]))
        indent = len(lines[i]) - len(lines[i].lstrip())
        found.append(Case(name, BEFORE_WORD, source[: starts[i] + found_at.start()], source[starts[i] + found_at.end() :],
                          found_at.group(0), indent))
    for node in _sample(signatures, per_kind, rng):
        i, last = node.lineno - 1, node.end_lineno - 1
        paren = lines[i].index("(")
        indent = len(lines[i]) - len(lines[i].lstrip())
        target = lines[i][paren + 1 :] + "\n" + "\n".join(lines[i + 1 : last + 1])
        found.append(Case(name, SIGNATURE, source[: starts[i] + paren + 1], source[starts[last + 1] - 1 :], target,
                          indent + 1, closers=")"))
    for node in _sample(openers, per_kind, rng):
        i = node.lineno - 1
        first, last = node.body[0].lineno - 1, node.body[-1].end_lineno - 1
        indent = len(lines[i]) - len(lines[i].lstrip())
        target = "\n" + "\n".join(lines[first : last + 1])
        found.append(Case(name, "after opener", source[: starts[i + 1] - 1], source[starts[last + 1] - 1 :], target, indent + 1))
    return found


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _cut_points(line: str) -> list[int]:
    """Offsets after `.`, `(`, `=` or a space, past the indentation and a few characters before the end,
    outside strings and comments."""
    indent = len(line) - len(line.lstrip())
    if len(line.strip()) < 16 or "#" in line:
        return []
    points, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
            continue
        if ch in "\"'":
            quote = ch
        elif ch in ".(= " and indent + 4 <= i < len(line) - 4:
            points.append(i + 1)
    return points


def _qualifiers(line: str) -> list:
    """`name.` before an attribute, past the indentation, outside strings and comments."""
    if "#" in line or "'" in line or '"' in line:
        return []
    indent = len(line) - len(line.lstrip())
    return [m for m in QUALIFIER.finditer(line) if m.start() > indent]


def _pair_points(line: str) -> list[int]:
    """Offsets of openers (brackets, quotes) whose closer is on the same line with something between them,
    outside strings (for brackets) and past the indentation."""
    if "#" in line:
        return []
    points, stack, quote = [], [], None
    for i, ch in enumerate(line):
        if quote is not None:
            if ch == line[quote] and line[i - 1] != "\\":
                if i > quote + 1:
                    points.append(quote)
                quote = None
            continue
        if ch in "\"'":
            quote = i
        elif ch in "([{":
            stack.append(i)
        elif ch in ")]}" and stack:
            start = stack.pop()
            if i > start + 1:
                points.append(start)
    return sorted(points)


def _sample(items: list, k: int, rng: random.Random) -> list:
    return rng.sample(items, min(k, len(items)))


# -- scores --------------------------------------------------------------------------------------------------
def first_line(text: str) -> str:
    return next((line.strip() for line in text.split("\n") if line.strip()), "")


def next_line_exact(case: Case, completion: str) -> bool:
    if case.kind == "after opener":
        return bool(completion.strip()) and first_line(completion) == first_line(case.target)
    return completion.split("\n", 1)[0].strip() == case.target.strip() and bool(completion.strip())


def edit_similarity(case: Case, completion: str) -> float:
    return difflib.SequenceMatcher(None, completion.strip(), case.target.strip(), autojunk=False).ratio()


def overruns(case: Case, completion: str) -> bool:
    for line in completion.split("\n")[1:]:
        if line.strip() and len(line) - len(line.lstrip()) < case.block_indent:
            return True
    return False


def unparsable(case: Case, completion: str) -> bool:
    try:
        ast.parse(case.prefix + completion + case.suffix)
    except (SyntaxError, ValueError):
        return True
    return False


def stray_space(case: Case, completion: str) -> bool:
    return case.kind == "line start" and completion[:1] in (" ", "\t")


def writes_body(case: Case, completion: str) -> bool:
    """A line below the cursor's, indented into the block the signature opens."""
    return any(line.strip() and len(line) - len(line.lstrip()) >= case.block_indent
               for line in completion.split("\n")[1:])


def parses(case: Case, completion: str) -> bool:
    return not unparsable(case, completion)


SIGNATURE_METRICS = (("writes a body", writes_body), ("document parses after accepting", parses))


METRICS = (
    ("next-line exact match", next_line_exact, "higher"),
    ("edit similarity", edit_similarity, "higher"),
    ("overruns the block", overruns, "lower"),
    ("file left unparsable", unparsable, "lower"),
    ("stray leading space (line starts)", stray_space, "lower"),
)


# -- the pipeline ------------------------------------------------------------------------------------------
class RecordingEngine:
    """The loaded engine, asked to run to max_new_tokens, with the raw text (and prompt) of each generation kept.
    `fills_in_the_middle`: declare that the model sees the code after the cursor, so that cursors before code on
    their line are asked (the prompt stays the model's own: left to right for CodeGen)."""

    def __init__(self, engine, fills_in_the_middle: bool = False) -> None:
        self.inner = engine
        self.fills_in_the_middle = fills_in_the_middle or engine.fills_in_the_middle
        self.raw: list[str] = []
        self.prompts: list[str] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def generate(self, request, cancel, should_stop=None):
        generation = self.inner.generate(request, cancel, None)
        self.raw.append(generation.text)
        self.prompts.append(request.prompt)
        return generation


def accepted(case: Case, shown) -> str:
    """What sits between the prefix and the rest of the document once the user accepts: a completion that
    replaces closers replaces them (a `Completion`); plain text is inserted before them."""
    if shown is None:
        return case.closers
    if isinstance(shown, str):
        return shown + case.closers
    return shown.text + case.closers[shown.replace :]


async def run(args, quantize: str | None = None, prompts: list[str] | None = None) -> list[tuple[Case, str, str]]:
    """quantize: run the fast engine with these weights (None: the default engine). prompts: collects the
    model prompt of each cursor."""
    options = {
        "model": args.model, "device": "cpu", "dtype": "float32", "maxNewTokens": args.max_new_tokens,
        "contextTokens": args.context_tokens, "cacheEntries": 0, "typedThrough": False,
    }
    if quantize is not None:
        options.update(engine="fast", quantize=quantize)
    settings, messages = parse_settings(options)
    if messages:
        sys.exit("; ".join(messages))
    completer = Completer(settings)
    if not await completer.load(lambda message, pct: None):
        sys.exit(f"could not load {args.model}: {completer.error}")
    recorder = RecordingEngine(completer.engine, args.ask_before_code)
    completer.engine = recorder
    rng = random.Random(args.seed)
    kinds = set(args.kinds.split(","))
    cases = [case for name in FILES for case in cases_of(SITE / name, args.per_kind, rng) if case.kind in kinds]
    results = []
    started = time.perf_counter()
    try:
        for number, case in enumerate(cases, 1):
            uri = f"file:///bench/{case.file}"
            before = len(recorder.raw)
            neighbours = open_siblings(SITE / case.file, args.open_siblings)
            shown = await completer.complete(
                uri, case.prefix + case.closers + case.suffix, len(case.prefix), "python", neighbours=neighbours
            )
            raw = recorder.raw[-1] if len(recorder.raw) > before else ""
            results.append((case, accepted(case, raw), accepted(case, shown[0] if shown else None)))
            if prompts is not None:
                prompts.append(recorder.prompts[-1] if len(recorder.prompts) > before else "")
            print(f"\r{number}/{len(cases)} cursors, {time.perf_counter() - started:.0f} s", end="", file=sys.stderr)
    finally:
        print(file=sys.stderr)
        completer.close()
    return results


BEFORE_SCRIPT = """
import json, sys
from codegen_lsp.context import cursor_context
from codegen_lsp.postprocess import completion_for
out = []
for case in json.load(sys.stdin):
    document = case["prefix"] + case["closers"] + case["suffix"]
    shown = completion_for(case["raw"], cursor_context(document, len(case["prefix"]), "python", case["uri"]))
    out.append(None if shown is None else [shown.text, shown.replace])
json.dump(out, sys.stdout)
"""


def shown_before(results: list[tuple[Case, str, str]], raws: list[str], code: str) -> list[str]:
    """The same raw texts through the filters of the `codegen_lsp` exported at `code` (another commit), in a
    subprocess: what the user would have accepted before."""
    import json
    import subprocess

    cases = [{"prefix": case.prefix, "suffix": case.suffix, "closers": case.closers, "raw": raw,
              "uri": f"file:///bench/{case.file}"} for (case, _, _), raw in zip(results, raws)]
    env = {**os.environ, "PYTHONPATH": code}
    answer = subprocess.run([sys.executable, "-c", BEFORE_SCRIPT], input=json.dumps(cases), env=env,
                            capture_output=True, text=True, check=True, cwd="/")
    shown = json.loads(answer.stdout)
    return [case.closers if item is None else item[0] + case.closers[item[1]:]
            for (case, _, _), item in zip(results, shown)]


def signature_table(results: list[tuple[Case, str, str]], before: list[str] | None) -> str:
    """The signature kind's own scores: raw, (before,) shown."""
    rows = [(case, raw, shown, before[i] if before else None) for i, (case, raw, shown) in enumerate(results)
            if case.kind == SIGNATURE]
    if not rows:
        return ""
    columns = ["raw model output"] + (["shown before (--before)"] if before else []) + ["shown (this code)"]
    lines = [f"| {SIGNATURE} | n | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for label, score in SIGNATURE_METRICS:
        cells = [statistics.mean(float(score(case, raw)) for case, raw, _, _ in rows)]
        if before:
            cells.append(statistics.mean(float(score(case, old)) for case, _, _, old in rows))
        cells.append(statistics.mean(float(score(case, shown)) for case, _, shown, _ in rows))
        lines.append(f"| {label} | {len(rows)} | " + " | ".join(f"{100 * cell:.0f}%" for cell in cells) + " |")
    return "\n".join(lines)


def open_siblings(path: Path, count: int) -> list[Neighbour]:
    """Other files of the same package, as if open in the editor (snippets for the prompt)."""
    siblings = sorted(p for p in path.parent.glob("*.py") if p != path and p.stat().st_size < 200_000)[:count]
    return [Neighbour(str(p), "python", p.read_text(encoding="utf-8")) for p in siblings]


def table(results: list[tuple[Case, str, str]], variants: dict[str, list[tuple[Case, str, str]]] | None = None) -> str:
    """The scores per cursor kind; `variants` (name -> results over the same cursors): a column pair each."""
    variants = variants or {"": results}
    header = "| cursors | n | metric |" + "".join(
        f" {name + ' ' if name else ''}raw model output | {name + ' ' if name else ''}post-processed (shown) |"
        for name in variants)
    rows = [header, "|---|---|---|" + "---|---|" * len(variants)]
    for kind in (*KINDS, "all"):
        if not any(kind == "all" or r[0].kind == kind for r in results):
            continue
        for label, score, _ in METRICS:
            if score is stray_space and kind not in ("line start", "all"):
                continue
            cells, n = "", 0
            for variant in variants.values():
                subset = [r for r in variant if (kind == "all" or r[0].kind == kind)
                          and (score is not stray_space or r[0].kind == "line start")]
                n = len(subset)
                if not n:
                    break
                raw = statistics.mean(float(score(case, text)) for case, text, _ in subset)
                shown = statistics.mean(float(score(case, text)) for case, _, text in subset)
                cells += f" {_percent(raw, score)} | {_percent(shown, score)} |"
            if n:
                rows.append(f"| {kind} | {n} | {label} |{cells}")
    return "\n".join(rows)


def greedy_agreement(args, prompts: list[str], quantizations: list[str]) -> dict[str, tuple[float, int]]:
    """Teacher-forced greedy agreement of each quantized fast engine with the unquantized one over the
    cursors' prompts: (share of tokens agreed, tokens compared)."""
    from codegen_lsp.engines.config import FastConfig
    from codegen_lsp.engines.local.codegen.engine import FastCodeGenEngine

    def loaded(quantize: str):
        engine = FastCodeGenEngine(FastConfig(model=args.model, device="cpu", dtype="float32", quantize=quantize))
        engine.load(lambda message, pct: None)
        return engine

    reference = loaded("none")
    scores = {}
    for quantize in quantizations:
        engine = loaded(quantize)
        agreed = total = 0
        for prompt in prompts:
            ids = reference.encode(prompt)[-(reference.context_window - args.max_new_tokens):] or [0]
            ref_logits, cand_logits = reference.model.prefill(ids)[0], engine.model.prefill(ids)[0]
            for _ in range(args.max_new_tokens):
                token = int(ref_logits.argmax())
                agreed += int(cand_logits.argmax()) == token
                total += 1
                ref_logits, cand_logits = reference.model.step(token), engine.model.step(token)
        scores[quantize] = (agreed / max(total, 1), total)
        engine.close()
    reference.close()
    return scores


def _percent(value: float, score) -> str:
    return f"{value:.2f}" if score is edit_similarity else f"{100 * value:.0f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "pycodegen-tiny"))
    parser.add_argument("--per-kind", type=int, default=4, help="cursors of each kind per file")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated cursor kinds to run")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--context-tokens", type=int, default=768, help="prompt budget in tokens")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=0, help="print this many examples (raw vs shown)")
    parser.add_argument("--open-siblings", type=int, default=0, help="open this many other files of the same package (snippets)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (two threads on two busy shared cores ran ~15x slower)")
    parser.add_argument("--ask-before-code", action="store_true",
                        help="ask the model at cursors before code on their line, as with a FIM model")
    parser.add_argument("--before", help="an export of another commit's codegen_lsp: its filters on the same raw texts")
    parser.add_argument("--quantize", help="comma list of none, int8, int4: the fast engine with each, side by side")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.quantize:
        sys.exit(main_quantized(args, started))
    results = asyncio.run(run(args))
    before = shown_before(results, [raw[: len(raw) - len(case.closers)] for case, raw, _ in results], args.before) \
        if args.before else None
    for number, (case, raw, shown) in enumerate(results[: args.show]):
        old = f"\n  before: {before[number]!r}" if before else ""
        print(f"--- {case.file} ({case.kind})\n  target: {case.target!r}\n  raw:    {raw!r}{old}\n  shown:  {shown!r}")
    print(f"files: {', '.join(FILES)} (from {SITE})")
    import codegen_lsp

    print(f"code: {Path(codegen_lsp.__file__).parent}")
    print(f"model: {args.model}; max_new_tokens={args.max_new_tokens}, prompt budget {args.context_tokens} tokens, greedy, {args.threads} torch thread(s), {args.open_siblings} sibling file(s) open")
    print(table(results))
    print(signature_table(results, before))
    print(f"({len(results)} cursors in {time.perf_counter() - started:.0f} s)")


def main_quantized(args, started: float) -> int:
    names = args.quantize.split(",")
    prompts: list[str] = []
    variants = {}
    for name in names:
        print(f"{name}:", file=sys.stderr)
        variants[name] = asyncio.run(run(args, name, prompts if not prompts else None))
    print(f"files: {', '.join(FILES)} (from {SITE})")
    print(f"model: {args.model}, fast engine; max_new_tokens={args.max_new_tokens}, prompt budget "
          f"{args.context_tokens} tokens, greedy, {args.threads} torch thread(s)")
    print(table(variants[names[0]], variants))
    quantized = [name for name in names if name != "none"]
    if quantized:
        print("\n| weights | greedy tokens agreeing with none (teacher-forced) | tokens | same raw completion |")
        print("|---|---|---|---|")
        reference = variants.get("none")
        for name, (share, total) in greedy_agreement(args, prompts, quantized).items():
            same = (statistics.mean(float(a[1] == b[1]) for a, b in zip(reference, variants[name]))
                    if reference else float("nan"))
            print(f"| {name} | {100 * share:.1f}% | {total} | {100 * same:.0f}% |")
    print(f"({len(prompts)} cursors in {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    main()
