"""The package's import drawing, computed with ``ast`` over animeparse/, against docs/architecture.md.

Rooms are the subpackages and the root modules (``store``, ``errors``, ...; ``animeparse`` is the package's own
``__init__``). Every import counts: module level, inside functions, under ``TYPE_CHECKING``. The floors and the one
allowed upward arrow are read from the ``layers`` block of docs/architecture.md, so the document and the code
cannot drift apart.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "animeparse"
MAX_LINES = 400


def _room_of(parts: list[str]) -> str:
    """``["animeparse", "store", "dataset"]`` -> ``store``; the package itself -> ``animeparse``."""
    if len(parts) < 2:
        return "animeparse"
    return parts[1] if (PKG / parts[1]).is_dir() or (PKG / f"{parts[1]}.py").is_file() else "animeparse"


def _is_module(parts: list[str]) -> bool:
    rel = parts[1:]
    return bool(rel) and (PKG.joinpath(*rel).is_dir() or PKG.joinpath(*rel[:-1], f"{rel[-1]}.py").is_file())


def _imports(path: Path) -> list[list[str]]:
    """Dotted names (as parts) of every animeparse module ``path`` imports."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name.split(".") for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = base + (node.module.split(".") if node.module else [])
            for alias in node.names:  # `from .. import errors` imports the module errors, not the package
                found.append(mod + [alias.name] if _is_module(mod + [alias.name]) else mod)
    return [p for p in found if p and p[0] == "animeparse"]


def import_graph() -> dict[tuple[str, str], list[str]]:
    """(from room, to room) -> the modules that draw that arrow."""
    arrows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(PKG.rglob("*.py")):
        src = _room_of(list(path.relative_to(REPO).parts))
        if path.parent == PKG and path.name != "__init__.py":
            src = path.stem
        for target in _imports(path):
            dst = _room_of(target)
            if dst != src:
                arrows[(src, dst)].append(f"{path.relative_to(REPO)} imports {'.'.join(target)}")
    return arrows


def documented_layers() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Room -> floor (0 = bottom) and the documented upward arrows, from docs/architecture.md."""
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md lost its ```layers block"
    floors: dict[str, int] = {}
    exceptions = []
    for line in block.group(1).splitlines():
        if m := re.match(r"(\d+) [^:]+: (.+)$", line.strip()):
            for room in m.group(2).split(","):
                assert room.strip() not in floors, f"{room.strip()} is on two floors"
                floors[room.strip()] = int(m.group(1))
        elif m := re.match(r"exception: (\S+) -> (\S+)", line.strip()):
            exceptions.append((m.group(1), m.group(2)))
    return floors, exceptions


def test_every_room_is_on_a_documented_floor() -> None:
    floors, _ = documented_layers()
    rooms = {r for arrow in import_graph() for r in arrow}
    rooms |= {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    rooms |= {p.stem for p in PKG.glob("*.py") if p.name != "__init__.py"}
    missing = sorted(rooms - set(floors))
    assert not missing, f"place {missing} on a floor in docs/architecture.md (```layers block)"


def test_arrows_point_down_but_one_documented_exception() -> None:
    floors, exceptions = documented_layers()
    assert len(exceptions) <= 1, f"at most one upward arrow may be documented, found {exceptions}"
    up = {arrow: why for arrow, why in import_graph().items() if floors[arrow[1]] > floors[arrow[0]]}
    assert set(up) <= set(exceptions), f"upward arrows: {[(a, w[:3]) for a, w in up.items() if a not in exceptions]}"


def test_no_cycles_between_rooms() -> None:
    _, exceptions = documented_layers()
    graph = defaultdict(set)
    for a, b in import_graph():
        if (a, b) not in exceptions:  # the exception is upward: it is reported (and bounded) above
            graph[a].add(b)
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail(f"import cycle: {' -> '.join(path[path.index(nxt):] + [node, nxt])}")
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for room in sorted(graph):
        if room not in state:
            visit(room, [])


def test_only_the_engine_picker_imports_distributed() -> None:
    """Runners are handed an executor; only parallel.executor_for (and the CLI, nothing) names the Ray engine."""
    importers = {a for a, b in import_graph() if b == "distributed"}
    assert importers <= {"parallel"}, f"{sorted(importers - {'parallel'})} import distributed/"


def test_no_module_over_400_lines() -> None:
    big = {str(p.relative_to(REPO)): n for p in PKG.rglob("*.py")
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, f"split these modules (house style: under {MAX_LINES} lines): {big}"
