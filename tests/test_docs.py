"""The README and docs/ say true things about the repository: every relative link leads somewhere, every setting
they name exists, the test command they give is the one CI runs, and the default model is the code's."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from codegen_lsp.settings import DEFAULT_MODEL, SETTINGS_FIELDS

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "editors" / "vscode" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FIELDS = {f.name for f in SETTINGS_FIELDS}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def anchors(page: Path) -> set[str]:
    """GitHub's ids of a page's headings."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(target)
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"


def table_settings(page: Path) -> list[str]:
    """The names in the first column of a page's settings tables (those under a `| setting |` header)."""
    names, in_table = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("| setting |"):
            in_table = True
        elif not line.startswith("|"):
            in_table = False
        elif in_table and not line.startswith("|---"):
            names += re.findall(r"`(\w+)`", line.split("|")[1])
    return names


def test_every_setting_in_the_settings_tables_exists():
    pages = [ROOT / "README.md", ROOT / "docs" / "settings.md"]
    named = [(page.name, name) for page in pages if page.exists() for name in table_settings(page)]
    assert len(named) >= 6
    assert [(page, name) for page, name in named if snake(name) not in FIELDS] == []


def test_every_codegenLsp_key_in_the_docs_is_a_setting_or_the_extensions_own():
    contributed = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text())["contributes"]["configuration"]
    properties = contributed["properties"] if isinstance(contributed, dict) else {
        key: value for section in contributed for key, value in section["properties"].items()}
    known = {key.removeprefix("codegenLsp.") for key in properties} | {
        name[0].lower() + re.sub(r"_(\w)", lambda m: m.group(1).upper(), name)[1:] for name in FIELDS}
    unknown = [(page.name, key) for page in PAGES
               for key in re.findall(r"codegenLsp\.(\w+)", page.read_text(encoding="utf-8")) if key not in known]
    assert unknown == []


def test_the_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    said = re.search(r"then runs `([^`]+)`", readme).group(1)
    steps = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert steps[-1] == said
    assert "```sh\nbash .ci/run\n```" in readme


def test_the_readme_names_the_codes_default_model_and_no_other_in_its_examples():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"| `model` | `--model` | `{DEFAULT_MODEL}` |" in readme
    assert set(re.findall(r"codegen-350M-\w+", readme)) == {DEFAULT_MODEL.split("/")[1]}
