"""Freshness by content: what Make decides by modification times, decided by digests.

Make stays the engine the user types; this decides, before Make looks at any time stamp,
whether each output is current, and sets the output's mtime so that Make agrees:

    python3 make/freshness.py record --target T [--target T2] -- INPUT...
        after a recipe made T (Make's $^ as INPUTs): writes T's manifest, <dir>/.<name>.manifest
        (like dvc.lock): the digest of each input's content, and of each code input's
        normalised source (comments, docstrings and formatting out: code_digest)
    python3 make/freshness.py sync ROOT... [--stamp FILE=VALUE ...]
        while Make parses: writes the stamps whose value changed (settings held in files, so a
        rule depends on a value), then, for every manifest under the ROOTs, in the order of the
        graph: an output whose inputs hold what its manifest recorded is made newer than them
        (a touch, a checkout there and back, a fresh clone of the code with the runs copied in:
        nothing reruns); one whose inputs changed is made older than the changed input (Make
        reruns it, even where a copy kept an old mtime). Everything else Make decides as ever.
    python3 make/freshness.py why --trace FILE [--keys DIR]
        reads `make -n --trace`'s output and says, for each step that would run, why:
        never made, settings changed: NAME 'old' -> 'new', code changed: FILE, input changed:
        FILE, or an input that will be remade first
    python3 make/freshness.py accept TARGET...
        records TARGET's manifest as it stands (a refactor the user knows to be safe: like
        `dvc commit`): it counts as current until its inputs change again
    python3 make/freshness.py data-key DATA_DIR FILE...
        the digest of the data files' content: the run folder's key

Digests of files are cached by (size, mtime, inode) in ROOT/.digests.json of the runs' root,
so a no-op `make` reads no large file twice. Standard library only: it runs before any
virtual environment exists.

Modules that cannot change a result (NON_COMPUTING below: logging, the run log, error
messages) are left out of every stage's code (make/code_deps.py), and tests/test_freshness.py
keeps the list honest: none of them imports a module that computes.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

# Modules that change no output: what they do is say what happens (logging, the run log of
# step times, the wording of an error). A stage's code digest leaves them out, so a new log
# line retrains nothing. Each imports no computing module (tests/test_freshness.py).
NON_COMPUTING = frozenset({"scripts/eedi/run_log.py", "scripts/eedi/errors.py"})
# Small files whose text is a setting (make's stamps): a manifest keeps their text, so `why`
# can say what a setting was and what it is.
STAMP_DIRS = ("config", "spec", "keys")
STAMP_MAX_BYTES = 4096
MANIFEST_SUFFIX = ".manifest"
CACHE_NAME = ".digests.json"


# ---------------------------------------------------------------- digests
def code_digest(path: Path) -> str:
    """sha256 of a Python file's meaning: its syntax tree without docstrings, printed back
    (ast.unparse drops comments and formatting). A file that does not parse: its bytes."""
    source = Path(path).read_bytes()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return "bytes:" + hashlib.sha256(source).hexdigest()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return "ast:" + hashlib.sha256(ast.unparse(tree).encode()).hexdigest()


class Digests:
    """Content digests of files, cached by (size, mtime_ns, inode) in a JSON file."""

    def __init__(self, cache: Path | None):
        self.cache = cache
        self.table = {}
        self.changed = False
        if cache and cache.is_file():
            try:
                self.table = json.loads(cache.read_text())
            except ValueError:  # a cache cut short: rebuilt
                self.table = {}

    @staticmethod
    def _identity(stat) -> list:
        return [stat.st_size, stat.st_mtime_ns, stat.st_ino]

    def of(self, path: str) -> str | None:
        """The digest of a file (code: code_digest; else sha256 of its bytes); None if absent."""
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            return None
        if not os.path.isfile(path):
            return "dir"
        key = os.path.abspath(path)
        hit = self.table.get(key)
        if hit and hit[:3] == self._identity(stat):
            return hit[3]
        if path.endswith(".py"):
            digest = code_digest(Path(path))
        else:
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
        self.table[key] = [*self._identity(stat), digest]
        self.changed = True
        return digest

    def moved(self, path: str) -> None:
        """path's mtime was set here, its content unchanged: keep its cached digest."""
        key = os.path.abspath(path)
        if key in self.table:
            self.table[key][:3] = self._identity(os.stat(path))
            self.changed = True

    def save(self) -> None:
        if not (self.cache and self.changed):
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(self.cache, json.dumps(self.table))


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- manifests
def manifest_path(target: str) -> Path:
    target = Path(target)
    return target.with_name(f".{target.name}{MANIFEST_SUFFIX}")


def _stamp_text(path: str) -> str | None:
    """The text of a stamp (a setting's value held in a small file under RUN/config, spec,
    keys), else None."""
    parts = Path(path).parts
    if not any(d in parts for d in STAMP_DIRS):
        return None
    try:
        if os.path.getsize(path) <= STAMP_MAX_BYTES:
            return Path(path).read_text()
    except (OSError, UnicodeDecodeError):
        return None
    return None


def record(targets: list[str], inputs: list[str], digests: Digests) -> None:
    """Write each target's manifest: its inputs' digests now (and the text of its stamps)."""
    inputs = sorted(set(inputs) - set(targets))
    entry = {"inputs": {i: digests.of(i) for i in inputs},
             "stamps": {i: t for i in inputs if (t := _stamp_text(i)) is not None}}
    for target in targets:
        if not os.path.exists(target):
            continue
        _write_atomic(manifest_path(target), json.dumps({"target": target, **entry}, indent=1,
                                                        sort_keys=True) + "\n")


def read_manifests(roots: list[str]) -> dict[str, dict]:
    """target -> its manifest, for every manifest under the roots: folders (walked) or single
    targets (their manifest alone); absent ones skipped."""
    found = {}
    for root in roots:
        if manifest_path(root).is_file() and not os.path.isdir(root):
            found[os.path.normpath(root)] = {**json.loads(manifest_path(root).read_text()),
                                             "target": root}
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if not d.endswith(".checkpoints")]
            for name in files:
                if name.startswith(".") and name.endswith(MANIFEST_SUFFIX):
                    try:
                        manifest = json.loads(Path(folder, name).read_text())
                    except ValueError:
                        continue
                    target = os.path.join(folder, name[1:-len(MANIFEST_SUFFIX)])
                    manifest["target"] = target
                    found[os.path.normpath(target)] = manifest
    return found


def changes(manifest: dict, digests: Digests) -> list[tuple[str, str]]:
    """What differs from the manifest: [(kind, input)], kind 'input', 'code', 'setting' or
    'gone' (an input that no longer exists)."""
    found = []
    for path, recorded in manifest["inputs"].items():
        now = digests.of(path)
        if now == recorded:
            continue
        kind = ("gone" if now is None else "setting" if path in manifest.get("stamps", {})
                else "code" if path.endswith(".py") else "input")
        found.append((kind, path))
    return found


def _graph_order(manifests: dict[str, dict]) -> list[str]:
    """Targets, each after the targets among its inputs."""
    order, state = [], {}

    def visit(target):
        if state.get(target) == "done":
            return
        state[target] = "open"
        for path in manifests[target]["inputs"]:
            path = os.path.normpath(path)
            if path in manifests and state.get(path) != "open":
                visit(path)
        state[target] = "done"
        order.append(target)

    for target in sorted(manifests):
        visit(target)
    return order


def sync(roots: list[str], digests: Digests, log=None) -> dict[str, list]:
    """Set each manifest's output's mtime so Make agrees with content. -> {target: changes}
    for the outputs whose inputs changed."""
    manifests = read_manifests(roots)
    stale = {}
    for target in _graph_order(manifests):
        if not os.path.exists(target):
            continue
        manifest = manifests[target]
        found = changes(manifest, digests)
        mtime = os.stat(target).st_mtime_ns
        times = {p: os.stat(p).st_mtime_ns for p in manifest["inputs"] if os.path.exists(p)}
        if not found:
            newest = max(times.values(), default=0)
            if mtime <= newest:  # Make would rerun what holds the same inputs
                os.utime(target, ns=(newest + 1000, newest + 1000))
                digests.moved(target)
                if log:
                    log(f"{target}: inputs unchanged in content: current")
        else:
            stale[target] = found
            changed = [times[p] for _, p in found if p in times]
            oldest = min(changed, default=None)
            if oldest is not None and mtime >= oldest:  # Make would keep what changed under it
                os.utime(target, ns=(oldest - 10**9, oldest - 10**9))
                digests.moved(target)
    return stale


def spec_stamp(kind: str, name: str) -> str:
    """The registry's fields that a model of KIND named NAME trains with (eedi.registry.
    training_fields): the text of Make's stamp RUN/spec/<kind>-<name>.json."""
    if "scripts" not in sys.path:
        sys.path.insert(0, "scripts")
    from eedi.registry import Reranker, Retriever, load_spec, training_fields
    spec = load_spec({"retriever": Retriever, "reranker": Reranker}[kind], name)
    return json.dumps(training_fields(spec), indent=1, sort_keys=True)


def spec_stamps(folder: Path, wanted: list[str]) -> None:
    """Write the stamps of the KIND:NAMEs wanted and refresh every stamp already in folder."""
    names = set(wanted)
    if folder.is_dir():
        for path in folder.rglob("*.json"):
            kind, _, name = path.relative_to(folder).with_suffix("").as_posix().partition("-")
            if kind in ("retriever", "reranker") and name:
                names.add(f"{kind}:{name}")
    for item in sorted(names):
        kind, _, name = item.partition(":")
        if name and name != "none":
            write_stamp(folder / f"{kind}-{name}.json", spec_stamp(kind, name))


def write_stamp(path: Path, value: str) -> None:
    """A setting's value in a file, rewritten only when it changes."""
    text = value + "\n"
    if path.is_file() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, text)


# ---------------------------------------------------------------- why
TRACE = re.compile(r"update target '(?P<target>[^']+)' due to: (?P<due>.*)$"
                   r"|target '(?P<missing>[^']+)' does not exist$")


def reasons(trace: str, roots: list[str], digests: Digests, keys: Path | None) -> list[str]:
    """One line per step `make -n --trace` would run: the step's target and why."""
    manifests = read_manifests(roots)
    lines, seen = [], set()
    for target, match in _trace_steps(trace):
        seen.add(target)
        why = []
        if match["missing"] or not os.path.exists(target):
            why.append("never made" + _key_note(target, keys))
        elif target in manifests:
            for kind, path in changes(manifests[target], digests):
                if kind == "setting":
                    old = manifests[target]["stamps"].get(path, "").strip()
                    new = Path(path).read_text().strip() if os.path.exists(path) else ""
                    why.append(f"settings changed: {Path(path).name} '{old}' -> '{new}'")
                else:
                    why.append(f"{kind} changed: {path}")
            remade = [p for p in match["due"].split() if os.path.normpath(p) in seen]
            why += [f"input will be remade: {p}" for p in remade]
        else:
            why.append("no manifest (made before content freshness); newer input: "
                       + match["due"])
        lines.append(f"{target}\n    " + "\n    ".join(why or ["input will be remade"]))
    return lines


def _trace_steps(trace: str):
    """(target, its trace line's match) for each target `make -n --trace` would update, once
    each, in its order; stamps left out (they are written while Make parses)."""
    seen = set()
    for line in trace.splitlines():
        match = TRACE.search(line)
        if not match:
            continue
        target = os.path.normpath(match["target"] or match["missing"])
        if target not in seen and not any(f"/{d}/" in f"/{target}" for d in STAMP_DIRS):
            seen.add(target)
            yield target, match


def would_run(trace: str) -> list[str]:
    """The targets `make -n --trace` would update, in its order (stamps left out)."""
    return [target for target, _ in _trace_steps(trace)]


def accept(trace: str, roots: list[str], digests: Digests) -> list[str]:
    """Record anew the manifest of each step that would run and was made before (its inputs as
    they are now), then sync: -> the targets accepted."""
    manifests = read_manifests(roots)
    accepted = [t for t in would_run(trace) if t in manifests and os.path.exists(t)]
    for target in accepted:
        record([target], list(manifests[target]["inputs"]), digests)
    sync(roots, digests)
    return accepted


SETTING = re.compile(r"(?:^| )([A-Z][A-Z0-9_]*)=")


def settings_of(text: str) -> dict[str, str]:
    """'TRAIN_ARGS=--epochs 1 NEGATIVES=' -> {'TRAIN_ARGS': '--epochs 1', 'NEGATIVES': ''}."""
    parts = SETTING.split(text.strip())
    return {name: value.strip() for name, value in zip(parts[1::2], parts[2::2])}


def _key_note(target: str, keys: Path | None) -> str:
    """For a name keyed by settings (<name>~<key>): which settings differ from the defaults
    (RUN/keys/<key> against RUN/keys/defaults.<KIND>)."""
    found = re.search(r"~([0-9a-f]{6})", target)
    if not (found and keys and (keys / found[1]).is_file()):
        return ""
    settings = settings_of((keys / found[1]).read_text())
    defaults = {}
    for path in sorted(keys.glob("defaults.*")):
        defaults.update(settings_of(path.read_text()))
    changed = [f"{name} '{defaults.get(name, '')}' -> '{value}'"
               for name, value in settings.items() if defaults.get(name, "") != value]
    return f": settings changed: {', '.join(changed)} (key ~{found[1]})" if changed else ""


# ---------------------------------------------------------------- main
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, help="the digest cache (JSON)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("record")
    p.add_argument("--target", action="append", required=True)
    p.add_argument("inputs", nargs="*")
    p = sub.add_parser("sync")
    p.add_argument("roots", nargs="*")
    p.add_argument("--stamp", action="append", default=[], metavar="FILE=VALUE")
    p.add_argument("--spec-dir", type=Path, help="RUN/spec: the registry entries' stamps")
    p.add_argument("--spec", action="append", default=[], metavar="KIND:NAME")
    p.add_argument("--verbose", action="store_true")
    p = sub.add_parser("why")
    p.add_argument("roots", nargs="*")
    p.add_argument("--trace", type=Path, required=True)
    p.add_argument("--keys", type=Path)
    p = sub.add_parser("accept")
    p.add_argument("roots", nargs="*")
    p.add_argument("--trace", type=Path, required=True)
    p.add_argument("--keys", type=Path)
    p = sub.add_parser("data-key")
    p.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    digests = Digests(args.cache)

    if args.command == "record":
        record(args.target, args.inputs, digests)
    elif args.command == "sync":
        for item in args.stamp:
            path, _, value = item.partition("=")
            write_stamp(Path(path), value)
        if args.spec_dir:
            spec_stamps(args.spec_dir, args.spec)
        say = (lambda m: print(m, file=sys.stderr)) if args.verbose else None
        sync(args.roots, digests, say)
    elif args.command == "why":
        lines = reasons(args.trace.read_text(), args.roots, digests, args.keys)
        print("\n".join(lines) if lines else "nothing to do: every output is current")
    elif args.command == "accept":
        accepted = accept(args.trace.read_text(), args.roots, digests)
        print("\n".join(f"accepted: {t}" for t in accepted) if accepted else
              "nothing to accept: no step that was made before would run")
    elif args.command == "data-key":
        missing = [f for f in args.files if not os.path.isfile(f)]
        if missing:
            print(f"error: {missing[0]} not found", file=sys.stderr)
            return 1
        h = hashlib.sha256()
        for f in args.files:
            h.update(Path(f).name.encode() + b"\0" + digests.of(f).encode() + b"\0")
        print(h.hexdigest()[:8])
    digests.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
