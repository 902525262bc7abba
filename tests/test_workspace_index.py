"""The workspace index: the definitions it finds, kept right through edits, renames and deletes, and the files
it never reads (outside the workspace, secrets, ignored, generated or vendored folders, over the caps)."""

from __future__ import annotations

import os

import pytest

from codegen_lsp.workspace_index import Kind, Limits, WorkspaceIndex, definitions_of

pytest.importorskip("tree_sitter_language_pack")


def write(path, text: str = "") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def names(index: WorkspaceIndex) -> set[str]:
    return {d.name for path in indexed_paths(index) for d in index.entry(path).definitions}


def indexed_paths(index: WorkspaceIndex) -> set[str]:
    return set(index._files)


def test_python_definitions_with_signatures_line_ranges_and_attribute_types():
    text = (
        "class Frame:\n"
        "    def __init__(self, parent: 'Frame | None' = None):\n"
        "        self.symbols = Symbols(parent)\n"
        "        self.depth: int = 0\n"
        "\n"
        "    def inner(self):\n"
        "        return Frame(self)\n"
        "\n"
        "def find(\n    name: str,\n) -> int:\n    return 1\n"
        "LIMIT = 3\n"
    )
    found = {(d.name, d.container): d for d in definitions_of(text, "/w/a.py", "python")}
    frame = found[("Frame", None)]
    assert frame.kind == Kind.CLASS and (frame.start_line, frame.end_line) == (0, 6)
    assert frame.attribute_type("symbols") == "Symbols"
    assert found[("inner", "Frame")].kind == Kind.METHOD
    assert found[("find", None)].signature == "def find( name: str, ) -> int:"
    assert found[("LIMIT", None)].kind == Kind.VARIABLE
    assert definitions_of("def broken(:\n", "/w/b.py", "python") is None  # mid-edit: the caller keeps what it had


def test_javascript_typescript_and_go_definitions():
    ts = "export function parse(src: string): Node { return x }\nexport class Parser {\n  lexer: Lexer;\n  next(): Token {}\n}\n" \
         "export const make = (a) => {\n  return a\n}\ninterface Node { kind: string }\n"
    found = {d.name: d for d in definitions_of(ts, "/w/p.ts", "typescript")}
    assert found["parse"].signature == "function parse(src: string): Node"
    assert found["Parser"].attribute_type("lexer") == "Lexer" and found["next"].container == "Parser"
    assert found["make"].kind == Kind.FUNCTION and found["Node"].kind == Kind.INTERFACE
    js = "function add(a, b) {\n  return a + b;\n}\nclass Stack { push(x) {} }\nmodule.exports = { add };\n"
    assert {d.name for d in definitions_of(js, "/w/m.js", "javascript")} == {"add", "Stack", "push"}
    go = 'package p\n\nfunc Parse(s string) (*Node, error) {\n\treturn nil, nil\n}\n\ntype Node struct {\n\tKids []*Node\n}\n' \
         'func (n *Node) Walk() {}\nconst Max = 3\n'
    found = {d.name: d for d in definitions_of(go, "/w/p.go", "go")}
    assert found["Parse"].signature == "func Parse(s string) (*Node, error)"
    assert found["Node"].kind == Kind.CLASS and found["Node"].attribute_type("Kids") == "Node"
    assert found["Walk"].container == "Node" and found["Max"].kind == Kind.VARIABLE


def test_index_follows_edits_renames_and_deletes(tmp_path):
    a = write(tmp_path / "pkg" / "__init__.py")
    b = write(tmp_path / "pkg" / "nodes.py", "class Const:\n    pass\n")
    index = WorkspaceIndex([str(tmp_path)])
    index.build()
    assert index.module("pkg.nodes").path == os.path.realpath(b) and index.named("Const")
    # An edit from the editor (not saved): its text wins.
    index.opened(b, "class Const:\n    pass\nclass Name:\n    pass\n")
    assert [d.name for d in index.named("Name")] == ["Name"]
    # Mid-edit text that does not parse keeps the last definitions.
    index.update(b, "class Const:\n    def broken(:\n")
    assert index.named("Name")
    # Closed without saving: the disk has the truth again.
    index.closed(b)
    assert not index.named("Name") and index.named("Const")
    # Renamed on disk: the old path goes, the new one comes.
    renamed = str(tmp_path / "pkg" / "tree.py")
    os.rename(b, renamed)
    index.remove(b)
    index.update(renamed)
    assert index.module("pkg.nodes") is None and index.module("pkg.tree").path == os.path.realpath(renamed)
    assert [d.path for d in index.named("Const")] == [os.path.realpath(renamed)]
    # A deleted folder takes its files with it.
    os.remove(renamed), os.remove(a), os.rmdir(tmp_path / "pkg")
    index.remove(str(tmp_path / "pkg"))
    assert index.size() == {"files": 0, "definitions": 0} and not index.named("Const")


def test_nothing_outside_the_workspace_and_no_secret_is_read(tmp_path):
    outside = tmp_path / "outside"
    write(outside / "private.py", "def leaked():\n    pass\n")
    work = tmp_path / "work"
    write(work / "app.py", "def visible():\n    pass\n")
    os.symlink(outside / "private.py", work / "link.py")  # a file link out of the workspace
    os.symlink(outside, work / "linked_folder")  # a folder link out of it
    for secret in (".env", ".env.local", "server.key", "id_rsa", "cert.pem", "aws_credentials.py", "secrets.py"):
        write(work / secret, "def leaked():\n    pass\n")
    index = WorkspaceIndex([str(work)])
    index.build()
    assert names(index) == {"visible"}
    # Updates from the editor or the file watcher are held to the same bounds.
    for path in (work / "link.py", work / "linked_folder" / "private.py", work / "secrets.py", outside / "private.py"):
        assert not index.update(str(path)) and not index.update(str(path), "def leaked(): pass\n")
    assert names(index) == {"visible"}


def test_gitignore_generated_and_vendored_folders_are_skipped(tmp_path):
    write(tmp_path / ".gitignore", "generated/\n*_pb2.py\n!keep_pb2.py\n")
    write(tmp_path / "src" / ".gitignore", "local.py\n")
    write(tmp_path / "src" / "main.py", "def main():\n    pass\n")
    write(tmp_path / "src" / "local.py", "def local():\n    pass\n")
    write(tmp_path / "generated" / "g.py", "def generated():\n    pass\n")
    write(tmp_path / "api_pb2.py", "def proto():\n    pass\n")
    write(tmp_path / "keep_pb2.py", "def kept():\n    pass\n")
    for folder in ("node_modules/lib", ".venv/lib", "build", "dist", "__pycache__", ".git", "x.egg-info"):
        write(tmp_path / folder / "m.py", "def vendored():\n    pass\n")
    write(tmp_path / "myenv" / "pyvenv.cfg")
    write(tmp_path / "myenv" / "lib" / "m.py", "def vendored():\n    pass\n")
    index = WorkspaceIndex([str(tmp_path)])
    index.build()
    assert names(index) == {"main", "kept"}


def test_caps_hold_on_a_generated_large_tree(tmp_path):
    for i in range(60):
        write(tmp_path / f"pkg{i % 6}" / f"m{i}.py", f"def f{i}():\n    return {i}\n")
    write(tmp_path / "big.py", "def big():\n    pass\n" + "x = 1\n" * 3000)  # over the size cap
    index = WorkspaceIndex([str(tmp_path)], Limits(max_files=25, max_file_bytes=4096))
    reports = []
    index.build(lambda done, total: reports.append((done, total)))
    assert index.size()["files"] == 25 and reports[-1] == (25, 25)
    assert "big" not in names(index)
    # The cap holds for files that come later too.
    write(tmp_path / "late.py", "def late():\n    pass\n")
    assert not index.update(str(tmp_path / "late.py")) and index.size()["files"] == 25


async def test_the_service_indexes_typing_once_it_pauses_and_remembers_the_edit(tmp_path):
    import asyncio

    from codegen_lsp.workspace_index.service import ProjectContext

    path = write(tmp_path / "a.py", "def old():\n    pass\n")
    other = write(tmp_path / "b.py", "def b():\n    pass\n")
    project = ProjectContext()
    await asyncio.wrap_future(project.start([str(tmp_path)]))
    texts = {path: "def old():\n    pass\n"}
    for typed in "def new():\n    pass\n":  # keystrokes: one index update after the pause, not one each
        texts[path] += typed
        project.changed(path, "python", 2, lambda: texts[path])
    assert project.index.named("old") and not project.index.named("new")
    project.flush()  # what the debounce timer does
    await asyncio.wrap_future(project._submit(lambda: None))  # the worker has done what was queued before
    assert project.index.named("new")
    assert [e.path for e in project.recent.others(other, "python")] == [path]
    # The file watcher: a deleted file goes; a change on disk to an open document does not win over the editor.
    project.opened(other, "def b_edited():\n    pass\n")
    project.files_changed([(path, True), (other, False)])
    await asyncio.wrap_future(project._submit(lambda: None))
    assert not project.index.named("new") and project.index.named("b_edited") and not project.index.named("b")
    assert project.stats()["files"] == 1
    project.close()
