"""The layout's rules, read from the source: the parts of the index import only the parts below them
(docs/architecture.md), the bot uses the index only through its public surface, the index never
imports discord, no module imports another's private names, and no test imports another test."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(package: str, root: Path = ROOT) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(file, imported module, imported names) of every import in a package's files; relative
    imports are resolved to absolute module names."""
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield str(path.relative_to(root)), alias.name, ()
            elif isinstance(node, ast.ImportFrom):
                base = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    module = ".".join([*base, node.module] if node.module else base)
                else:
                    module = node.module or ""
                yield str(path.relative_to(root)), module, tuple(a.name for a in node.names)


BASE = {"errors", "records", "settings", "printable"}
#: What each part of `index/` may import of the others: the pipeline's stages, lowest first.
ALLOWED = {
    "errors": set(),
    "records": set(),
    "printable": set(),
    "settings": {"errors"},
    "storage": BASE,
    "encoders": BASE,
    "search": BASE | {"storage"},
    "ingest": BASE | {"storage"},
    "answer": BASE | {"storage", "encoders", "search", "ingest"},
    "adding": BASE | {"storage", "encoders", "search", "ingest", "answer"},
    "upgrades": BASE | {"storage", "answer"},
    "article_index": BASE | {"storage", "encoders", "search", "ingest", "answer", "adding", "upgrades"},
    "migrate": BASE | {"storage", "encoders", "search", "ingest", "answer", "adding", "upgrades", "article_index"},
}


def part(module: str) -> str:
    """The part of the index a module belongs to: its subpackage, or its own name at the top."""
    return module.split(".")[1] if module.count(".") else module


def against_the_direction(root: Path = ROOT) -> list[tuple[str, str]]:
    """(file, module) of each import of `index/` that goes up or sideways."""
    wrong = []
    for f, m, names in imports("index", root):
        if not m.startswith("index"):
            continue
        mine = part(".".join(Path(f).with_suffix("").parts))
        if mine not in ALLOWED:
            continue  # the surface (__init__), the command line and the measuring tools sit above everything
        targets = {part(m)} if m != "index" else {n for n in names}  # `from .. import x` names modules
        wrong += [(f, m) for t in targets - {mine} if t not in ALLOWED[mine]]
    return wrong


def test_each_part_of_the_index_imports_only_the_parts_below_it() -> None:
    assert against_the_direction() == []


def test_an_import_against_the_direction_is_caught(tmp_path: Path) -> None:
    for name, line in (
        ("storage/x.py", "from ..answer.quotes import weigh_sentences"),
        ("search/y.py", "from index.ingest import parse"),
        ("ingest/z.py", "from .. import answer"),
        ("ingest/ok.py", "from ..storage.scope import Scope"),
    ):
        (tmp_path / "index" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "index" / name).write_text(line + "\n", encoding="utf-8")
    assert sorted(against_the_direction(tmp_path)) == [
        ("index/ingest/z.py", "index"),
        ("index/search/y.py", "index.ingest"),
        ("index/storage/x.py", "index.answer.quotes"),
    ]


def test_the_bot_imports_the_index_only_through_its_public_surface() -> None:
    leaks = [(f, m) for f, m, _ in imports("bot") if m.startswith("index.") and m != "index.cli"]
    assert leaks == []


def test_the_index_never_imports_discord() -> None:
    assert [(f, m) for f, m, _ in imports("index") if m.split(".")[0] == "discord"] == []


def test_no_module_imports_another_modules_private_names() -> None:
    private = [
        (f, m, n)
        for package in ("index", "bot", "tools")
        for f, m, names in imports(package)
        for n in names
        if n.startswith("_") and not n.startswith("__")
    ]
    assert private == []


def test_the_tools_use_the_index_s_public_verbs_only() -> None:
    import index

    surface = set(index.__all__)
    for f, m, names in imports("index/measure"):
        if m == "index":
            assert set(names) <= surface, f
        else:
            assert not m.startswith("index.") or m.startswith("index.measure."), (f, m)


def test_no_test_imports_another_test() -> None:
    leaks = [
        (f, m) for f, m, _ in imports("tests") if m.split(".")[-1].startswith("test_") or m.split(".")[-1] == "conftest"
    ]
    assert leaks == []


def test_the_research_scripts_run_as_modules_without_path_tricks() -> None:
    scripts = sorted((ROOT / "tools").glob("*.py"))
    assert scripts and not [p.name for p in scripts if "sys.path" in p.read_text(encoding="utf-8")]


def test_migrating_and_measuring_go_through_the_index_s_verbs_not_its_store() -> None:
    reaching = []
    for path in [ROOT / "index" / "migrate.py", *sorted((ROOT / "index" / "measure").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        reaching += [
            (path.name, node.lineno)
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr == "store"
        ]
    assert reaching == []
