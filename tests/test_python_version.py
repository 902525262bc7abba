"""The package runs on the oldest Python that pyproject.toml's requires-python names: pip installs it there, so an
import that needs a newer Python would fail only when the server starts."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def declared_minimum() -> str:
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r">=\s*(3\.\d+)", requires.strip())
    assert match, f"requires-python should read '>=3.N', got {requires!r}"
    return match.group(1)


def test_the_running_python_is_one_the_package_declares():
    assert sys.version_info[:2] >= tuple(int(part) for part in declared_minimum().split("."))


def test_the_code_needs_no_newer_python_than_declared():
    pytest.importorskip("vermin", reason="vermin is in the test extra: pip install -e '.[test]'")
    minimum = declared_minimum()
    done = subprocess.run(
        [sys.executable, "-c", "import sys, vermin; sys.exit(vermin.main())", "--no-tips", "--eval-annotations", "--no-parse-comments",
         f"-t={minimum}-", "--violations", str(ROOT / "codegen_lsp")],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"code that needs a Python newer than {minimum}:\n{done.stdout}{done.stderr}"
