"""The real server with a scripted engine, for the golden suite and the editor tests:
`python tests/scripted_server.py --stdio`, with the `model` setting naming a JSON file `{"raw": "..."}` (and
`"fim": true` for a model that sees the code after the cursor, `"prompt_log": path` to have each prompt appended to
that file as a JSON line).

The engine "generates" the file's raw text, read afresh on every request (a test writes the next answer before
it asks), token by token in word-sized pieces, asking the pipeline's stop check after each piece exactly as the
real engines do: what is shown is what post-processing makes of a model that stops where the server tells it
to. Nothing here is imported by the package: production code carries no test hooks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from codegen_lsp import cli, completion
from codegen_lsp.engines.base import CancelToken, FinishReason, Generation, GenerationRequest, StopCheck

PIECES = re.compile(r"\s+|\w+|.", re.DOTALL)


class ScriptedEngine:
    name = "scripted"
    context_window = 4096
    runtime: dict = {}
    tokenizer = None

    def __init__(self, config) -> None:
        self.script = Path(config.model)  # the engine config the `model` setting made
        self.model_name = self.script.name

    @property
    def fills_in_the_middle(self) -> bool:
        """As a server that fills in the middle itself (`"fim": true` in the script): it sees the code after."""
        return bool(json.loads(self.script.read_text(encoding="utf-8")).get("fim", False))

    def load(self, report) -> None:
        report("scripted engine ready", 100)

    def count_tokens(self, text: str) -> int:
        return len(PIECES.findall(text))

    def max_token_chars(self) -> int:
        return 64

    def generate(
        self, request: GenerationRequest, cancel: CancelToken, should_stop: StopCheck | None = None
    ) -> Generation:
        script = json.loads(self.script.read_text(encoding="utf-8"))
        raw = script["raw"]
        if script.get("prompt_log"):  # a test reads the prompts the server built
            with open(script["prompt_log"], "a", encoding="utf-8") as log:
                log.write(json.dumps(request.prompt) + "\n")
        text, reason, pieces = "", FinishReason.EOS, 0
        for piece in PIECES.findall(raw):
            if cancel.cancelled:
                return Generation(text, FinishReason.CANCELLED, generated_tokens=pieces)
            if pieces == request.max_new_tokens:
                reason = FinishReason.LENGTH
                break
            text += piece
            pieces += 1
            if should_stop is not None and should_stop(text):
                reason = FinishReason.CUT
                break
        return Generation(text, reason, prompt_tokens=self.count_tokens(request.prompt), generated_tokens=pieces)

    def close(self) -> None:
        pass


completion.build_engine = ScriptedEngine

if __name__ == "__main__":
    cli.main()
