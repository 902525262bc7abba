"""The README's install and start commands, as written, in a fresh venv from a copy of the repository: what a
new user types. Only the torch step is swapped for the local CPU wheel (this machine has no route to
download.pytorch.org), and `check` is pointed at the shared tiny model (the hub is unreachable here)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCAL_TORCH = "pip install torch==2.13.0"


def install_commands(readme: str) -> list[str]:
    """The shell lines of the README's "Install and start" section, up to its first start command, with the
    clone left out (the test copies the working tree) and the torch choice made for the local wheel."""
    section = readme.split("## Install and start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    lines, torch_chosen = [], False
    for block in blocks:
        for line in block.strip().splitlines():
            command = line.split("  #", 1)[0].strip()
            if command.startswith("git clone"):
                continue
            if command.startswith("pip install torch"):
                if not torch_chosen:
                    lines.append(LOCAL_TORCH)
                torch_chosen = True
                continue
            lines.append(command)
            if command.startswith("codegen-lsp check"):
                return lines
    raise AssertionError("the README's Install section has no `codegen-lsp check`")


def test_the_install_section_is_venv_torch_package_check():
    lines = install_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    assert lines[0].startswith("python3 -m venv .venv") and lines[1] == LOCAL_TORCH
    assert re.fullmatch(r'pip install "\.\[[\w,]+\]"', lines[2]) and lines[3] == "codegen-lsp check"


@pytest.mark.slow
@pytest.mark.shared_model
def test_the_readmes_install_and_start_commands_work_in_a_fresh_venv(tmp_path, shared_model_dir):
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    clone = tmp_path / "codegen-lsp"
    for name in files:
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    lines = install_commands((ROOT / "README.md").read_text(encoding="utf-8"))
    lines[-1] += f" --model {shared_model_dir} --device cpu"
    script = "set -euo pipefail\n" + "\n".join(lines) + "\ncodegen-lsp --stdio < /dev/null\n"
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run(["bash", "-c", script], cwd=clone, env=env, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "works: the model loads and completes here" in done.stdout
    assert (clone / ".venv" / "bin" / "codegen-lsp").is_file()
