"""The layout's rules, read from the source: the bot uses the index only through its public surface,
the index never imports discord, and no module imports another's private names."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imports(package: str) -> Iterator[tuple[str, str, tuple[str, ...]]]:
    """(file, imported module, imported names) of every import in a package's files; relative
    imports are resolved to absolute module names."""
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield str(path.relative_to(ROOT)), alias.name, ()
            elif isinstance(node, ast.ImportFrom):
                base = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
                if node.level:
                    base = base[:len(base) - node.level + 1]
                    module = ".".join([*base, node.module] if node.module else base)
                else:
                    module = node.module or ""
                yield str(path.relative_to(ROOT)), module, tuple(a.name for a in node.names)


def test_the_bot_imports_the_index_only_through_its_public_surface() -> None:
    leaks = [(f, m) for f, m, _ in imports("bot") if m.startswith("index.") and m != "index.cli"]
    assert leaks == []


def test_the_index_never_imports_discord() -> None:
    assert [(f, m) for f, m, _ in imports("index") if m.split(".")[0] == "discord"] == []


def test_no_module_imports_another_modules_private_names() -> None:
    private = [(f, m, n) for package in ("index", "bot", "tools") for f, m, names in imports(package)
               for n in names if n.startswith("_") and not n.startswith("__")]
    assert private == []


def test_the_tools_use_the_index_s_public_verbs_only() -> None:
    import index

    surface = set(index.__all__)
    for f, m, names in imports("index/tools"):
        if m == "index":
            assert set(names) <= surface, f
