"""Finding a Kaggle notebook's inputs by what they hold, never by a fixed path.

Kaggle mounts attached inputs read-only under /kaggle/input in one of two layouts (both seen,
see README "Submitting from a Kaggle notebook"):

    /kaggle/input/<slug>/...                                   older images: competitions,
    /kaggle/input/<model>/<framework>/<variation>/<version>/   datasets and models by name
    /kaggle/input/competitions/<slug>/...                      newer images
    /kaggle/input/datasets/<owner>/<slug>/...
    /kaggle/input/models/<owner>/<model>/<framework>/<variation>/<version>/...
    /kaggle/input/m/<owner>/<model>/...                        two attached models of one name

    root = input_root()                       # $KAGGLE_INPUT_ROOT, else /kaggle/input
    find_competition(root)    # the folder holding train.csv, test.csv, misconception_mapping.csv
    find_code(root)           # the folder holding scripts/eedi/__init__.py (the code dataset)
    find_plan(root)           # the folder holding kernel.json (+ the fusion/boost JSONs)
    find_weights(root, "minilm")          # <the eedi-minilm dataset>/.../all (a model folder)
    find_kaggle_model(root, "qwen-lm/qwen2.5/transformers/32b-instruct-awq/1")
    find_named_folder(root, "smollm2-135m-instruct", "config.json")
    find_wheels(root)         # the folder holding *.whl, or None when no wheels are attached

A missing input raises MissingInput: one message naming what is missing, what it should hold
and every place looked. Standard library only: the notebook imports this before any install.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_INPUT_ROOT = "/kaggle/input"
DEFAULT_WORKING_DIR = "/kaggle/working"
INPUT_ROOT_ENV = "KAGGLE_INPUT_ROOT"     # a rehearsal points these at a simulated /kaggle tree
WORKING_DIR_ENV = "KAGGLE_WORKING_DIR"
COMPETITION_FILES = ("train.csv", "test.csv", "misconception_mapping.csv")
CODE_MARKER = "scripts/eedi/__init__.py"
PLAN_FILE = "kernel.json"
SPEC_FILES = ("retriever.json", "reranker.json")  # registry's Retriever/Reranker.SPEC_FILE
# Deep enough for models/<owner>/<model>/<framework>/<variation>/<version>/<folder>/all.
MAX_DEPTH = 8


class MissingInput(Exception):
    """An input the notebook needs is not attached (or not where any layout puts it)."""


def input_root() -> Path:
    return Path(os.environ.get(INPUT_ROOT_ENV) or DEFAULT_INPUT_ROOT)


def working_dir() -> Path:
    return Path(os.environ.get(WORKING_DIR_ENV) or DEFAULT_WORKING_DIR)


def weights_slug(model: str) -> str:
    """The dataset slug push_weights.py gives a model's weights: eedi-<model>, lower-case,
    runs of other characters as '-' ("minilm.r2" -> "eedi-minilm-r2")."""
    return re.sub(r"[^a-z0-9]+", "-", f"eedi-{model}".lower()).strip("-")


def folders(root: Path, max_depth: int = MAX_DEPTH):
    """Every folder under root (root included), shallowest first, in name order; links to
    folders are followed (a rehearsal links big weights in) but never twice."""
    seen = set()
    level = [Path(root)]
    for _ in range(max_depth + 1):
        following = []
        for folder in level:
            try:
                key = folder.resolve()
                if key in seen:
                    continue
                seen.add(key)
                yield folder
                following += sorted(p for p in folder.iterdir() if p.is_dir())
            except OSError:  # unreadable or vanished: not an input
                continue
        level = following


def _describe(root: Path) -> str:
    if not Path(root).is_dir():
        return f"{root} (does not exist)"
    top = sorted(p.name for p in Path(root).iterdir())
    return f"{root} (holds: {', '.join(top) or 'nothing'})"


def find_holding(root: Path, what: str, files: tuple[str, ...], prefer: str | None = None) -> Path:
    """The shallowest folder under root holding every one of `files` (relative paths); among
    several, the one named `prefer`. MissingInput names `what` and where it looked."""
    found = [f for f in folders(root) if all((f / name).is_file() for name in files)]
    if not found:
        raise MissingInput(
            f"no {what} found: looked for a folder holding {', '.join(files)} under "
            f"{_describe(root)}, {MAX_DEPTH} levels deep, in both layouts (<slug>/ and "
            f"competitions|datasets|models/...). Attach it to the notebook.")
    named = [f for f in found if f.name == prefer]
    return (named or found)[0]


def find_competition(root: Path, slug: str | None = None) -> Path:
    return find_holding(root, "competition data", COMPETITION_FILES, prefer=slug)


def find_code(root: Path) -> Path:
    return find_holding(root, "code dataset", (CODE_MARKER,))


def find_plan(root: Path) -> Path:
    return find_holding(root, "kernel plan", (PLAN_FILE,))


def dataset_dirs(root: Path, slug: str) -> list[Path]:
    """Where a dataset `slug` (or owner/slug) is mounted in either layout: root/<slug>,
    root/datasets/<owner>/<slug>."""
    owner, _, name = slug.rpartition("/")
    owners = [root / "datasets" / owner] if owner else sorted((root / "datasets").glob("*"))
    candidates = [root / name] + [o / name for o in owners]
    return [c for c in candidates if c.is_dir()]


def find_weights(root: Path, model: str, slug: str | None = None) -> Path:
    """The all-train model folder (`all/` with its spec JSON) of `model`'s weights dataset
    (slug eedi-<model> unless given), in either layout."""
    slug = slug or weights_slug(model)
    places = dataset_dirs(root, slug)
    for place in places:
        for folder in folders(place, max_depth=4):
            if folder.name == "all" and any((folder / s).is_file() for s in SPEC_FILES):
                return folder
    looked = ", ".join(str(p) for p in places) or (
        f"{root / slug.rpartition('/')[2]} and {root / 'datasets' / '*' / slug.rpartition('/')[2]}"
        " (neither exists)")
    raise MissingInput(
        f"no weights of {model!r}: looked for dataset {slug} holding all/"
        f"{{{','.join(SPEC_FILES)}}} in {looked}; under {_describe(root)}. Attach the dataset "
        "make push-weights made (kernel-metadata.json lists it).")


def find_kaggle_model(root: Path, handle: str) -> Path:
    """A Kaggle Models input "owner/model/framework/variation/version": mounted at
    root/models/<handle> (newer images), root/m/<handle> (two attached models of one name) or
    root/<model>/<framework>/<variation>/<version>; the framework matched in any case (the
    handle says "transformers", a mount may say "Transformers")."""
    parts = handle.strip("/").split("/")
    if len(parts) != 5:
        raise ValueError(f"{handle!r} is not owner/model/framework/variation/version")
    candidates = [(root / "models", parts), (root / "m", parts), (root, parts[1:])]
    for base, segments in candidates:
        candidate = _walk(base, segments, framework=len(segments) - 3)
        if candidate is not None:
            # a model folder may sit one level down (e.g. a subfolder per checkpoint)
            for folder in folders(candidate, max_depth=2):
                if (folder / "config.json").is_file():
                    return folder
    looked = " and ".join(str(base / Path(*segments)) for base, segments in candidates)
    raise MissingInput(
        f"no Kaggle model {handle}: looked for config.json in {looked} (framework in any "
        f"case); under {_describe(root)}. Add it to the notebook's model_sources.")


def _walk(base: Path, segments: list[str], framework: int) -> Path | None:
    """base/segments... as mounted, segment `framework` compared case-insensitively."""
    path = base
    for i, segment in enumerate(segments):
        if (path / segment).is_dir():
            path = path / segment
            continue
        if i != framework or not path.is_dir():
            return None
        same = [p for p in path.iterdir() if p.is_dir() and p.name.lower() == segment.lower()]
        if not same:
            return None
        path = same[0]
    return path


def find_named_folder(root: Path, name: str, marker: str = "config.json") -> Path:
    """A folder called `name` holding `marker`, anywhere under root (a base model shipped in
    a dataset rather than in Kaggle Models)."""
    for folder in folders(root):
        if folder.name == name and (folder / marker).is_file():
            return folder
    raise MissingInput(
        f"no folder {name}/ holding {marker} under {_describe(root)} ({MAX_DEPTH} levels "
        "deep): attach the dataset or model that holds it.")


def find_wheels(root: Path, prefer: str | None = None) -> Path | None:
    """The folder holding the offline wheels (*.whl), preferring one named `prefer`; None when
    no wheels are attached (nothing to install)."""
    found = [f for f in folders(root) if any(f.glob("*.whl"))]
    named = [f for f in found if f.name == prefer]
    return (named or found or [None])[0]
