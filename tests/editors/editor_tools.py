"""Shared by the real-editor tests: install an editor with the project's own script, or skip saying why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools"
SERVER_COMMAND = [sys.executable, "-m", "codegen_lsp", "--stdio"]


def install(script: str, *args: str, timeout: float = 600) -> str:
    """Run scripts/<script>; its last line of output (the version) is returned. Skips when it fails."""
    try:
        done = subprocess.run(
            [str(REPO / "scripts" / script), *args], capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"scripts/{script} could not run: {err}")
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        pytest.skip(f"scripts/{script} failed (no network to the package registries?): {' | '.join(tail)}")
    return done.stdout.strip().splitlines()[-1]


def isolated_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment whose editor state, config and caches live under `home`, not in the user's."""
    import os

    env = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        path = home / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[name] = str(path)
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env
