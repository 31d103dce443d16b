"""The shape of the code, checked from its source: which part may import which, that the `handbook` shell gets every
command whatever order its parts are imported in, and that README.md names every command.

The import graph is read from the AST of every .py file under assistant/, ingest/, ui/, evals/ and handbook/: every
import statement wherever it stands (module level, inside functions, under `if TYPE_CHECKING`), absolute and
relative, and importlib.import_module("...") with a literal name. `from x import y` counts as importing x.y when
that is a module of ours, else x itself. Importing a module also runs its parent packages' __init__, but that is
not counted as an edge: only what a file names is.
"""
from __future__ import annotations

import ast
import itertools
import json
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("assistant", "ingest", "ui", "evals", "handbook")
USERS_OF_THE_LIBRARY = ("ingest", "ui", "evals", "handbook")
PARTS_WITH_COMMANDS = ("assistant", "ingest", "ui", "evals")  # each has a cli.py that only handbook/cli.py imports
CLI_MODULES = ["assistant.cli", "ingest.cli", "ui.cli", "evals.cli", "handbook.cli"]
COMMANDS = {"setup", "ingest", "ask", "toc", "remove", "serve", "log", "eval"}
LOG_SUBCOMMANDS = {"stats", "export"}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, "ui.chat"
    target: str  # the imported module, "assistant.markers" ("assistant" for a name its __init__ defines)
    where: str   # "ui/chat.py:12"

    def __str__(self) -> str:
        return f"{self.where}: {self.source} imports {self.target}"


@cache
def our_modules() -> dict[str, tuple[Path, bool]]:
    """Dotted name -> (file, is a package's __init__) for every module of the five packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _targets(module: str, is_package: bool, node: ast.AST) -> list[str]:
    modules = our_modules()
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        return [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
    if (isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
        return [node.args[0].value]
    return []


@cache
def imports() -> tuple[Import, ...]:
    """Every import of one of our modules by one of our modules."""
    found = []
    for module, (path, is_package) in our_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            for target in _targets(module, is_package, node):
                if target.split(".")[0] in PACKAGES:
                    found.append(Import(module, target, f"{path.relative_to(REPO)}:{node.lineno}"))
    return tuple(found)


def cycles(edges: dict[tuple[str, str], list[Import]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def describe(found: list[list[str]], edges: dict[tuple[str, str], list[Import]]) -> str:
    lines = []
    for component in found:
        lines.append(" <-> ".join(component))
        for a, b in itertools.permutations(component, 2):
            lines.extend(f"    {imp}" for imp in edges.get((a, b), []))
    return "\n".join(lines)


def test_the_reader_sees_the_imports_it_must():
    """The graph itself: lazy, relative and TYPE_CHECKING imports are all in it (or the checks below prove nothing)."""
    seen = {(i.source, i.target) for i in imports()}
    assert ("handbook.cli", "ui.cli") in seen                      # module level
    assert ("ingest.cli", "ingest.setup") in seen                  # inside a function
    assert ("ui.chat", "ui.reader") in seen                        # relative: from . import reader
    assert ("assistant", "assistant.pipeline") in seen             # under TYPE_CHECKING, and lazily in a function
    assert ("assistant.model.calibration", "assistant.settings") in seen  # under TYPE_CHECKING
    assert ("assistant.pipeline", "assistant.answer.generative") in seen  # a lazy import in a method
    unknown = [str(i) for i in imports() if i.target not in our_modules()]
    assert not unknown, "imports the reader resolved to no module of ours:\n" + "\n".join(unknown)


def test_the_library_imports_none_of_its_users():
    """assistant/ is the library: ingest, ui, evals and the handbook shell build on it, never the other way."""
    bad = [str(i) for i in imports() if i.source.split(".")[0] == "assistant"
           and i.target.split(".")[0] in USERS_OF_THE_LIBRARY]
    assert not bad, "\n".join(bad)


def test_only_the_shell_imports_a_parts_commands():
    """ingest, ui and evals (and assistant) never import another part's cli module: handbook/cli.py joins them."""
    bad = [str(i) for i in imports() if i.source.split(".")[0] in PARTS_WITH_COMMANDS
           and any(i.target == f"{part}.cli" or i.target.startswith(f"{part}.cli.")
                   for part in PARTS_WITH_COMMANDS if part != i.source.split(".")[0])]
    assert not bad, "\n".join(bad)


def test_no_import_cycle_between_packages():
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in imports():
        a, b = imp.source.split(".")[0], imp.target.split(".")[0]
        if a != b:
            edges.setdefault((a, b), []).append(imp)
    found = cycles(edges)
    assert not found, "import cycles between packages:\n" + describe(found, edges)


def assistant_node(module: str) -> str | None:
    """assistant.index.store -> assistant.index; top-level modules (and the package's __init__) stand for themselves."""
    return ".".join(module.split(".")[:2]) if module.split(".")[0] == "assistant" else None


def test_no_import_cycle_inside_assistant():
    """Between assistant's subpackages (index, model, retrieval, answer) and its top-level modules."""
    edges: dict[tuple[str, str], list[Import]] = {}
    for imp in imports():
        a, b = assistant_node(imp.source), assistant_node(imp.target)
        if a and b and a != b:
            edges.setdefault((a, b), []).append(imp)
    found = cycles(edges)
    assert not found, "import cycles inside assistant/:\n" + describe(found, edges)


def test_the_cycle_check_finds_cycles():
    def imp(a: str, b: str) -> Import:
        return Import(a, b, "x.py:1")
    edges = {("a", "b"): [imp("a", "b")], ("b", "c"): [imp("b", "c")], ("c", "a"): [imp("c", "a")],
             ("c", "d"): [imp("c", "d")], ("e", "f"): [imp("e", "f")]}
    assert cycles(edges) == [["a", "b", "c"]]
    assert "x.py:1: c imports a" in describe(cycles(edges), edges)
    assert cycles({("a", "b"): [], ("b", "a"): []}) == [["a", "b"]] and cycles({("a", "b"): []}) == []


# ------------------------------------------------------------------------------------------------ the shell


PERMUTATIONS_CHILD = textwrap.dedent("""
    import importlib, itertools, json, sys, traceback

    modules, commands, log_subcommands = json.loads(sys.argv[1])
    packages = {m.split(".")[0] for m in modules}
    failures, runs = [], 0
    for order in itertools.permutations(modules):
        for name in [n for n in sys.modules if n.split(".")[0] in packages]:
            del sys.modules[name]
        runs += 1
        try:
            for name in order:
                importlib.import_module(name)
            cli = sys.modules["handbook.cli"].cli
            missing = sorted(set(commands) - set(cli.commands))
            log = cli.commands.get("log")
            missing += sorted("log " + c for c in set(log_subcommands) - set(getattr(log, "commands", {})))
            if missing:
                failures.append({"order": order, "missing": missing})
        except Exception:
            failures.append({"order": order, "error": traceback.format_exc()})
    print(json.dumps({"runs": runs, "failures": failures}))
""")


def test_the_shell_has_every_command_whatever_the_import_order():
    """All 120 orders of importing the five cli modules, in one process, starting afresh for each order."""
    args = json.dumps([CLI_MODULES, sorted(COMMANDS), sorted(LOG_SUBCOMMANDS)])
    done = subprocess.run([sys.executable, "-c", PERMUTATIONS_CHILD, args], cwd=str(REPO), capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["runs"] == 120
    assert not result["failures"], json.dumps(result["failures"][:3], indent=1)


def command_paths(group: click.Group, prefix: str = "handbook") -> list[str]:
    """"handbook ask", "handbook log", "handbook log stats", ... for every command and subcommand."""
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, f"{prefix} {name}"))
    return paths


def test_the_readme_names_every_command_and_subcommand():
    from handbook.cli import cli

    paths = command_paths(cli)
    assert {"handbook ask", "handbook log", "handbook log stats", "handbook log export"} <= set(paths)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [p for p in paths if not re.search(rf"`{re.escape(p)}(?=[\s`])", readme)]
    assert not missing, f"README.md does not show these as `handbook ...`: {missing}"


def test_the_makefile_builds_the_llama_server_pyproject_pins():
    """make setup builds llama-cpp-python itself (portable CPU flags); it must be the version the test extra pins."""
    pinned = re.search(r'"(llama-cpp-python\[server\]==[^"]+)"', (REPO / "pyproject.toml").read_text()).group(1)
    assert f"'{pinned}'" in (REPO / "Makefile").read_text()
