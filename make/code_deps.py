"""Each stage's code, derived from the imports of its script, so Make never trusts a hand list.

    python3 make/code_deps.py write --out data/runs/code-deps.mk
        writes one Make variable per script under scripts/: the script and every library module
        it imports, transitively (imports inside functions too: they run as well), e.g.
            CODE.train_retriever := scripts/train_retriever.py scripts/eedi/errors.py ...
            CODE.kaggle/push_code := scripts/kaggle/push_code.py ...
        The Makefile includes the file and remakes it when any script or module changes; a rule
        that runs scripts/X.py depends on $(call code,X).

    make -pn print-RUN RERANKER=... | python3 make/code_deps.py check
        reads Make's database and fails, naming the target, the script and the module, when a
        rule whose recipe runs scripts/X.py lacks a module that X imports (make check-deps).

Three kinds of module are left out on purpose: `__init__.py` files (they only list modules, so
adding one to a list must not retrain anything), eedi/registry.py (a model rule depends on the
stamp of its own registry entry instead, so adding one model retrains no other), and the
modules that compute nothing (make/freshness.py's NON_COMPUTING: the run log, error messages).
Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from freshness import NON_COMPUTING  # noqa: E402  (make/freshness.py, beside this file)

SCRIPTS = Path("scripts")
LIBRARY = SCRIPTS / "eedi"
LEFT_OUT = {LIBRARY / "registry.py", *map(Path, NON_COMPUTING)}


def _module_file(name: str, roots: list[Path]) -> Path | None:
    """scripts/ (or the script's own folder) + a.b.c -> a/b/c.py or a/b/c/__init__.py."""
    for root in roots:
        base = root.joinpath(*name.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def imported_files(path: Path, roots: list[Path]) -> set[Path]:
    """The files under scripts/ that `path` imports directly: `import a.b`, `from a.b import c`
    (c a module or a name in a.b), at any depth of the code."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            module = _module_file(name, roots)
            if module is not None:
                found.add(module)
    return found


def code_of(script: Path) -> list[Path]:
    """The script and every module it imports, transitively, less LEFT_OUT and __init__.py."""
    roots = [script.parent, SCRIPTS]
    seen, todo = set(), [script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        todo.extend(imported_files(path, roots) - seen)
    modules = sorted(p for p in seen - {script} if p.name != "__init__.py" and p not in LEFT_OUT)
    return [script, *modules]


def stage_scripts() -> list[Path]:
    """Every command under scripts/ (not the library)."""
    return sorted(p for p in SCRIPTS.rglob("*.py") if LIBRARY not in p.parents)


def stage_name(script: Path) -> str:
    return script.relative_to(SCRIPTS).with_suffix("").as_posix()


def write(out: Path) -> None:
    lines = ["# Made by make/code_deps.py from the imports under scripts/; not to be edited.\n"]
    for script in stage_scripts():
        lines.append(f"CODE.{stage_name(script)} := {' '.join(map(str, code_of(script)))}\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("".join(lines))
    os.replace(tmp, out)


RULE = re.compile(r"^(?P<targets>[^#\t\s][^:=]*?):(?![=:])\s*(?P<prereqs>.*)$")
RUNS = re.compile(r"\bscripts/([\w/]+)\.py\b")


def rules(database: str):
    """(target, prerequisites, recipe, phony) of every rule in `make -p`'s database (recipe ''
    when it has none)."""
    block: list[str] = []
    for line in database.splitlines() + [""]:
        if line.strip():
            block.append(line)
            continue
        if block:
            head = RULE.match(block[0])
            recipe = "\n".join(l for l in block[1:] if l.startswith("\t"))
            phony = any(l.startswith("#  Phony target") for l in block[1:])
            if head:
                prereqs = head["prereqs"].split("|")[0].split()
                yield head["targets"].strip(), set(prereqs), recipe, phony
        block = []


def problems(database: str) -> list[str]:
    """One line per module a rule's prerequisites miss: 'TARGET: runs scripts/X.py, which
    imports M, but does not depend on it'."""
    codes = {stage_name(s): code_of(s) for s in stage_scripts()}
    # Make prints a database before it restarts to read a remade code-deps.mk: the last counts
    database = database.split("# Make data base, printed on")[-1]
    table = list(rules(database))
    by_target = {target: (prereqs, recipe) for target, prereqs, recipe, _ in table if recipe}

    def covered(prereqs: set[str], name: str) -> set[str]:
        """The prerequisites, and theirs through rules that run the same script: the tables
        made by one rule depend on its code through that rule. (Not through
        another stage's output: that it changes with its own code is no dependency on ours.)"""
        seen, todo = set(), list(prereqs)
        while todo:
            file = todo.pop()
            if file in seen:
                continue
            seen.add(file)
            upstream, recipe = by_target.get(file, ((), ""))
            if name in RUNS.findall(recipe):
                todo.extend(upstream)
        return seen

    found = []
    for target, prereqs, recipe, phony in table:
        if phony or not recipe:  # a phony target runs every time anyway
            continue
        for name in sorted(set(RUNS.findall(recipe))):
            deps = covered(prereqs, name)
            for module in codes.get(name, []):
                if str(module) not in deps:
                    found.append(f"{target}: runs scripts/{name}.py, which imports {module}, "
                                 "but does not depend on it")
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("write").add_argument("--out", type=Path, required=True)
    sub.add_parser("check")
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.out)
        return 0
    found = problems(sys.stdin.read())
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
