"""VS Code, for real: code-server with the extension built from editors/vscode (.vsix), driven in headless
Chromium. The status bar goes from loading to ready, typing shows the server's ghost text, Tab accepts it into
the file, Ctrl+Right takes a word of the next one, "Show statistics" counts both (shown, accepted, in part), and the
extension's restart and toggle commands do what they say."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from editor_tools import REPO, TOOLS, install, isolated_env

pytestmark = [pytest.mark.editor, pytest.mark.slow]

EXTENSION = REPO / "editors" / "vscode"
DRIVER = Path(__file__).with_name("vscode_drive.js")
CODE_SERVER = TOOLS / "code-server"
CHROMIUM = Path("/usr/bin/chromium")

WORKBENCH_SETTINGS = {
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "telemetry.telemetryLevel": "off",
    "extensions.autoUpdate": False,
    "update.mode": "none",
    "editor.inlineSuggest.enabled": True,
    "editor.minimap.enabled": False,
    "files.autoSave": "off",
}


@pytest.fixture(scope="module")
def code_server() -> Path:
    install("install-code-server.sh", str(CODE_SERVER))
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    return CODE_SERVER / "bin" / "code-server"


@pytest.fixture(scope="module")
def vsix(tmp_path_factory) -> Path:
    """The extension packaged the way a release is: npm ci, tsc, vsce package."""
    if not shutil.which("npm"):
        pytest.skip("npm is not installed")
    target = tmp_path_factory.mktemp("vsix") / "codegen-lsp.vsix"
    for command in (["npm", "ci", "--no-audit", "--no-fund"], ["npm", "run", "package", "--", "-o", str(target)]):
        done = subprocess.run(command, cwd=EXTENSION, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.skip(f"{' '.join(command)} failed (no npm registry?): {done.stderr.strip()[-500:]}")
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_vscode(code_server: Path, vsix: Path, tmp_path: Path, settings: dict, text: str, typed: str,
               screenshot: Path | None = None, partial: str | None = None, file_name: str = "example.py",
               driver: Path = DRIVER, **driver_extra: str) -> tuple[dict, str]:
    """Install the .vsix into a fresh profile, open `text` as `file_name`, type `typed` at its end (or as the
    driver says). Returns what the driver saw and the file as saved after Tab."""
    user_data, extensions = tmp_path / "user-data", tmp_path / "extensions"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(json.dumps({**WORKBENCH_SETTINGS, **settings}, indent=1))
    env = isolated_env(tmp_path / "home")
    profile = ["--user-data-dir", str(user_data), "--extensions-dir", str(extensions)]
    subprocess.run([str(code_server), *profile, "--install-extension", str(vsix)],
                   env=env, check=True, capture_output=True, timeout=120)
    folder = tmp_path / "project"
    folder.mkdir()
    source = folder / file_name
    source.write_text(text)
    port = free_port()
    server = subprocess.Popen(
        [str(code_server), *profile, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry",
         "--disable-update-check", "--disable-workspace-trust", str(folder)],
        env=env, stdout=subprocess.DEVNULL, stderr=(tmp_path / "code-server.log").open("w"), start_new_session=True,
    )
    result_path = tmp_path / "result.json"
    try:
        wait_for_http(f"http://127.0.0.1:{port}/healthz")
        driver_env = {
            **env, "URL": f"http://127.0.0.1:{port}", "FOLDER": str(folder), "FILE": source.name, "TYPE": typed,
            "RESULT": str(result_path), "PLAYWRIGHT_CORE": str(CODE_SERVER / "npm" / "node_modules" / "playwright-core"),
            "CHROMIUM": str(CHROMIUM), **({"SCREENSHOT": str(screenshot)} if screenshot else {}),
            **({"PARTIAL": partial} if partial else {}), **driver_extra,
        }
        done = subprocess.run(["node", str(driver)], env=driver_env, capture_output=True, text=True, timeout=300)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # code-server, its extension host and the language server
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    assert result.get("ok"), (result.get("why"), result, done.stderr[-3000:])
    return result, source.read_text()


def server_settings(model: Path, max_new_tokens: int) -> dict:
    return {
        "codegenLsp.serverPath": sys.executable,
        "codegenLsp.serverArgs": ["-m", "codegen_lsp", "--stdio"],
        "codegenLsp.model": str(model),
        "codegenLsp.device": "cpu",
        "codegenLsp.maxNewTokens": max_new_tokens,
    }


def test_ghost_text_status_bar_tab_and_toggle(code_server, vsix, wordy_model_dir, tmp_path):
    result, saved = run_vscode(
        code_server, vsix, tmp_path, server_settings(wordy_model_dir, 8),
        text="import os\n\ndef main():\n    ", typed="value = ", partial="\ny = ",
    )
    # The status bar showed the server working (starting/loading spinner) before it said ready.
    assert result["statusBar"][0].startswith("sync") and result["ready"].startswith("check")
    assert any(s.startswith("sync") and s.endswith("%") for s in result["statusBar"]), "no loading progress shown"
    ghost = result["ghost"].replace("\u00a0", " ")
    assert ghost.strip(), "no ghost text"
    # Tab wrote exactly the suggestion that was shown into the file, after what was typed.
    assert saved.splitlines()[-2] == "    value = " + ghost
    # Ctrl+Right (accept next word) took the start of the next suggestion, not all of it.
    partial_ghost = result["partialGhost"].replace("\u00a0", " ")
    taken = saved.splitlines()[-1].removeprefix("    y = ")
    assert saved.splitlines()[-1].startswith("    y = ") and taken and partial_ghost.startswith(taken), saved
    if len(re.findall(r"\w+", partial_ghost)) > 1:  # a one-word suggestion is taken whole by "next word"
        assert len(taken) < len(partial_ghost.rstrip()), (taken, partial_ghost)
    # Show statistics: the server's counters, which include the completion just shown, the one accepted with Tab
    # and the one taken in part.
    usage = re.search(r"(\d+) requests, (\d+) answered by the model", result["stats"])
    assert usage and int(usage[1]) >= 1 and int(usage[2]) >= 1, result["stats"]
    kept = re.search(r"suggestions: (\d+) shown, (\d+) accepted \((\d+%|n/a)\), (\d+) in part", result["stats"])
    assert kept and int(kept[1]) >= 2 and int(kept[2]) >= 1, result["stats"]
    if len(re.findall(r"\w+", partial_ghost)) > 1:  # the next-word key took part of the suggestion
        assert int(kept[4]) >= 1, result["stats"]
    else:  # it took the one word whole: VS Code runs the item's command, a second whole acceptance
        assert int(kept[2]) >= 2, result["stats"]
    # Restart server: the spinner, then ready again; Toggle completions: the status bar says they are off.
    assert result["restarting"].startswith("sync") and result["restarted"].startswith("check")
    assert result["toggled"].startswith("circle-slash")


def test_extension_unit_tests(vsix):
    """The extension's own tests (status bar wording, server settings), run by node --test."""
    done = subprocess.run(["npm", "test"], cwd=EXTENSION, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "# fail 0" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.shared_model
def test_pycodegen_tiny_ghost_text_screenshot(code_server, vsix, shared_model_dir, tmp_path):
    """The README's picture: a real small model completing real Python. CODEGEN_SCREENSHOTS=docs saves it there."""
    screenshot = tmp_path / "vscode-ghost-text.png"
    settings = {**server_settings(shared_model_dir, 48), "codegenLsp.dtype": "float32"}
    text = 'import os\n\n\ndef read_lines(path):\n    """Return the lines of the file at path."""'
    # Enter: VS Code indents the new line and the model suggests the function's body.
    result, saved = run_vscode(code_server, vsix, tmp_path, settings, text, typed="\n", screenshot=screenshot)
    first_line = result["ghost"].replace("\u00a0", " ")
    assert first_line.strip(), "no ghost text"
    # Tab took the suggestion: its first line as shown on the cursor's line (and any further lines below it).
    assert (saved + "\n").startswith(text + "\n    " + first_line + "\n"), saved
    assert screenshot.stat().st_size > 10_000
    if os.environ.get("CODEGEN_SCREENSHOTS"):
        shutil.copy(screenshot, Path(os.environ["CODEGEN_SCREENSHOTS"]) / screenshot.name)


PAIRS_DRIVER = Path(__file__).with_name("vscode_pairs_drive.js")
SCRIPTED_SERVER_ARGS = [str(REPO / "tests" / "scripted_server.py"), "--stdio"]


def run_at_pair(code_server, vsix, tmp_path, text, line, column, typed, raw):
    """code-server with the scripted engine answering `raw`; the driver types `typed` at (line, column)."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"raw": raw}))
    settings = {
        "codegenLsp.serverPath": sys.executable, "codegenLsp.serverArgs": SCRIPTED_SERVER_ARGS,
        "codegenLsp.model": str(script), "codegenLsp.languages": ["javascript"],
        "editor.autoClosingBrackets": "always", "editor.autoClosingQuotes": "always",
    }
    step = json.dumps({"line": line, "column": column, "type": typed})
    return run_vscode(code_server, vsix, tmp_path, settings, text, typed, file_name="example.js",
                      driver=PAIRS_DRIVER, STEP=step)


def test_auto_closed_quote_replaced_with_the_semicolon(code_server, vsix, tmp_path):
    """Typing `"` closes it; the item replaces that `"` with `hello";`: VS Code draws `hello` before the quote and
    `;` after it, and Tab leaves one quote and the `;`."""
    result, saved = run_at_pair(code_server, vsix, tmp_path, "const s = \n", 1, 11, '"', 'hello";\nconst t = 1;\n')
    assert result["ghost_parts"] == ["hello", ";"], result
    assert saved == 'const s = "hello";\n'


def test_body_inside_auto_closed_braces(code_server, vsix, tmp_path):
    """Typing `{` closes it; the body comes as lines before the `}`, which Tab leaves on its own line."""
    result, saved = run_at_pair(code_server, vsix, tmp_path, "function f() \n", 1, 14, "{", "\n  return 1;\n}\n")
    # drawn as lines below the cursor's, the `}` that follows the cursor moved to the last one
    assert result["ghost_lines"] == ["  return 1;", "}"], result
    assert saved == "function f() {\n  return 1;\n}\n"


def test_callback_body_replaces_the_closers_on_its_own_line(code_server, vsix, tmp_path):
    """`then((data) => {¦})`: a body of lines that replaces `})` with `});` on a line of its own."""
    result, saved = run_at_pair(code_server, vsix, tmp_path, "fetch(u).then((data) => )\n", 1, 25, "{",
                                "\n  console.log(data);\n});\n")
    assert result["ghost_lines"] == ["  console.log(data);", "});"], result
    assert saved == "fetch(u).then((data) => {\n  console.log(data);\n});\n", result


def test_signature_typed_with_auto_closing_shows_its_rest_and_body(code_server, vsix, tmp_path):
    """Typing `function area(` leaves `function area(¦)`: the ghost text shows the parameters before the `)`,
    ` {` after it and the body below; Tab leaves a document that parses, with one `)`."""
    from codegen_lsp.postprocess.parsers import parses

    raw = "r) {\n  return Math.PI * r * r;\n}\n\nfunction perimeter(r) {\n  return 2 * r;\n}\n"
    result, saved = run_at_pair(code_server, vsix, tmp_path, "const k = 1;\n\n", 3, 1, "function area(", raw)
    assert result["ghost_parts"][:2] == ["r", " {"], result
    assert result["ghost_lines"] == ["  return Math.PI * r * r;", "}"], result
    assert saved == "const k = 1;\n\nfunction area(r) {\n  return Math.PI * r * r;\n}", result
    assert parses(saved, "javascript") is not False
