"""Emacs + eglot, for real, configured as the README says (classic completion): the server's suggestion is the
completion candidate, and completion-at-point inserts all of it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from editor_tools import SERVER_COMMAND, install, isolated_env

pytestmark = [pytest.mark.editor, pytest.mark.slow]

DRIVER = Path(__file__).with_name("eglot_drive.el")


def test_eglot_completes_with_the_server_suggestion(wordy_model_dir, tmp_path):
    version = install("install-emacs.sh", timeout=600)
    assert version.startswith("GNU Emacs"), version
    source = tmp_path / "project" / "example.py"
    source.parent.mkdir()
    source.write_text("import os\n\ndef main():\n    ")
    result_path = tmp_path / "result.json"
    env = isolated_env(
        tmp_path / "home", HOME=str(tmp_path / "home"), CODEGEN_SERVER=json.dumps(SERVER_COMMAND),
        CODEGEN_MODEL=str(wordy_model_dir), CODEGEN_FILE=str(source), CODEGEN_RESULT=str(result_path),
    )
    done = subprocess.run(["emacs", "--batch", "-l", str(DRIVER)], env=env, capture_output=True, text=True,
                          timeout=180)
    assert result_path.exists(), done.stderr[-3000:]
    result = json.loads(result_path.read_text())
    assert result["state"] == "ready", result
    assert result["line_before"] == "    value = "
    (candidate,) = result["candidates"]
    assert " " in candidate.strip()  # several words: the whole suggestion, not its first word
    assert result["line_after"] == result["line_before"] + candidate
