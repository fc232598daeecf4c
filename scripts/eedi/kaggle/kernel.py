"""A Kaggle notebook folder (`kaggle kernels push -p DIR`): its kernel-metadata.json written
and checked by one set of rules, every source it attaches looked up, the pushed version read,
and the record of pushes and submissions.

    meta = kernel_metadata("me/eedi-inference", "Eedi inference", "eedi-inference.ipynb",
                           datasets=["me/eedi-code", ...], models=[...])   # checked, or ValueError
    slug_of("Eedi inférence")                  # "eedi-inference": the kaggle CLI's own rule
    meta = read_metadata(kernel_dir)           # the same checks, or one DataError naming the key
    source_checks(meta, exe)                   # [Source("dataset", "me/eedi-code", [exe, "datasets", "status", ...]), ...]
    bad = check_sources(checks)                # [(source, "404 Client Error: Not Found ...")]
    pushed_version("Kernel version 7 successfully pushed.  Please check ...")   # 7
    record = read_record(path); last_version(record, "me/eedi-submit")          # 7 or None

Why each check: the CLI defaults enable_internet to true (a code competition refuses such a
notebook), silently drops a source it cannot find and still "succeeds" (kaggle-api #433), and
names a new notebook after its title, so an id that is not the slug of the title leaves
`kernels status`/`submit` looking for a notebook that does not exist.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from slugify import slugify  # the function the kaggle CLI derives a notebook's slug with

from eedi.defaults import COMPETITION
from eedi.errors import DataError
from eedi.kaggle.cli import probe_kaggle

METADATA = "kernel-metadata.json"
# The machine the notebook asks for: 2 x T4. enable_gpu alone gave a P100, which fails on the
# current image (kaggle-api #821, PR #1156).
MACHINE_SHAPE = "NvidiaTeslaT4"
# The owner of the notebook and its datasets when no Kaggle user is known: make kernel and a
# local rehearsal need no account; pushing refuses it (placeholder_problem).
PLACEHOLDER_USER = "your-kaggle-user"
REQUIRED = ("id", "title", "code_file", "language", "kernel_type", "is_private", "enable_gpu",
            "enable_internet", "machine_shape", "competition_sources", "dataset_sources")
OWNER_SLUG = re.compile(r"[A-Za-z0-9_-]+/[a-z0-9-]+")
PUSHED = re.compile(r"Kernel version (\d+) successfully pushed")
DROPPED = re.compile(r"^The following are not valid \w+ sources.*$", re.MULTILINE)
# `kaggle datasets status` prints DatabundleVersionStatus names in lower case
DATASET_READY = "ready"
DATASET_BROKEN = {"failed", "deleted"}


def slug_of(title: str) -> str:
    """The slug Kaggle gives a notebook of this title (python-slugify, as the kaggle CLI does:
    "Eedi inférence (2x T4)" -> "eedi-inference-2x-t4")."""
    return slugify(title)


def kernel_metadata(kernel_id: str, title: str, code_file: str, datasets: list[str],
                    models: list[str]) -> dict:
    """kernel-metadata.json for a private, offline GPU notebook on 2 x T4 in the competition;
    ValueError("key: why") when it breaks a rule of `metadata_problem`."""
    meta = {"id": kernel_id, "title": title, "code_file": code_file, "language": "python",
            "kernel_type": "notebook", "is_private": True, "enable_gpu": True,
            "enable_tpu": False,
            # the CLI defaults enable_internet to true; a code competition needs it off
            "enable_internet": False, "machine_shape": MACHINE_SHAPE,
            # the image the notebook first ran on, kept for its later versions and the hidden
            # rerun: a new Kaggle image (another torch, Python) cannot break a scored notebook
            "docker_image_pinning_type": "original",
            "dataset_sources": datasets, "competition_sources": [COMPETITION],
            "kernel_sources": [], "model_sources": models}
    problem = metadata_problem(meta)
    if problem:
        raise ValueError(": ".join(problem))
    return meta


def metadata_problem(meta: dict, competition: str = COMPETITION) -> tuple[str, str] | None:
    """The first broken rule as (key, why), else None: every key in REQUIRED; id USER/SLUG with
    a slug of >= 5 characters that is the slug of the title (>= 5 characters); python notebook;
    internet off; a machine shape; `competition` among the competition sources; sources well
    formed."""
    missing = [key for key in REQUIRED if key not in meta]
    if missing:
        return ", ".join(missing), "missing"
    kernel_id, title = meta["id"], meta["title"]
    if not isinstance(kernel_id, str) or not OWNER_SLUG.fullmatch(kernel_id):
        return "id", f"{kernel_id!r} is not USER/SLUG (slug: a-z, 0-9, '-')"
    slug = kernel_id.split("/")[1]
    if not 5 <= len(slug) <= 50:
        return "id", f"slug {slug!r} has {len(slug)} characters; Kaggle wants 5-50"
    if not isinstance(title, str) or len(title) < 5:
        return "title", f"{title!r} is shorter than 5 characters"
    if slug_of(title) != slug:
        return "title", (f"{title!r} resolves to the slug {slug_of(title)!r}, not {slug!r}: "
                         "Kaggle names a new notebook after its title, so status and submit "
                         "would look for the wrong one")
    if meta["language"] != "python":
        return "language", f"{meta['language']!r}: expected \"python\""
    if meta["kernel_type"] != "notebook":
        return "kernel_type", f"{meta['kernel_type']!r}: expected \"notebook\""
    if meta["enable_internet"] is not False:
        return "enable_internet", (f"{meta['enable_internet']!r}: must be false (a code "
                                   "competition runs notebooks without internet; the CLI's "
                                   "default is true)")
    for key in ("is_private", "enable_gpu"):
        if not isinstance(meta[key], bool):
            return key, f"{meta[key]!r}: expected true or false"
    if not isinstance(meta["machine_shape"], str) or not meta["machine_shape"]:
        return "machine_shape", ("must name the accelerator, e.g. \"NvidiaTeslaT4\" "
                                 "(enable_gpu alone gave a P100, which fails on the current image)")
    for key, pattern, form in (
            ("competition_sources", re.compile(r"[a-z0-9-]+"), "COMPETITION-SLUG"),
            ("dataset_sources", re.compile(r"[A-Za-z0-9_-]+/[A-Za-z0-9_-]+(/\d+)?"),
             "OWNER/SLUG"),
            ("model_sources", re.compile(r"([A-Za-z0-9_.-]+/){4}\d+"),
             "OWNER/MODEL/FRAMEWORK/VARIATION/VERSION"),
            ("kernel_sources", re.compile(r"[A-Za-z0-9_-]+/[a-z0-9-]{5,}"), "OWNER/SLUG")):
        values = meta.get(key, [])
        if not isinstance(values, list):
            return key, "must be a list"
        for value in values:
            if not isinstance(value, str) or not pattern.fullmatch(value):
                return key, f"{value!r} is not {form}"
    if competition not in meta["competition_sources"]:
        return "competition_sources", (f"must include {competition!r}: the notebook is "
                                       "submitted to it")
    return None


def placeholder_problem(meta: dict) -> str | None:
    """Why metadata made without a Kaggle user name cannot be pushed (its id or a dataset is
    owned by PLACEHOLDER_USER), else None."""
    owned = [meta["id"], *meta.get("dataset_sources", [])]
    if any(ref.split("/")[0] == PLACEHOLDER_USER for ref in owned):
        return (f"the notebook was made without a Kaggle user name ({meta['id']}): rebuild it "
                "with make kernel KERNEL_USER=you (or KAGGLE_USERNAME, or a kaggle.json with a "
                "\"username\") before pushing")
    return None


def read_metadata(kernel_dir: Path, competition: str = COMPETITION) -> dict:
    """kernel-metadata.json, checked by `metadata_problem`, and code_file a notebook (JSON with
    cells and metadata.kernelspec, which papermill needs); else one DataError."""
    path = kernel_dir / METADATA
    if not path.is_file():
        raise DataError(path, None, None, "not found: make kernel writes it")
    try:
        meta = json.loads(path.read_text())
    except ValueError as e:
        raise DataError(path, None, None, f"not JSON ({e})") from None
    if not isinstance(meta, dict):
        raise DataError(path, None, None, "not a JSON object")
    problem = metadata_problem(meta, competition)
    if problem:
        raise DataError(path, None, None, ": ".join(problem))

    code = kernel_dir / str(meta["code_file"])
    if not code.is_file():
        raise DataError(path, None, None, f"code_file: {code} not found")
    try:
        notebook = json.loads(code.read_text())
    except ValueError as e:
        raise DataError(code, None, None, f"not a notebook: not JSON ({e})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise DataError(code, None, None, "not a notebook: no cells")
    if "kernelspec" not in notebook.get("metadata", {}):
        raise DataError(code, None, None, "metadata.kernelspec is missing (papermill, which "
                        "runs the notebook on Kaggle, fails without it)")
    return meta


@dataclasses.dataclass(frozen=True)
class Source:
    kind: str            # competition | dataset | model | kernel
    ref: str
    command: list[str]   # a CLI look-up that exits non-zero when the source is not there


def source_checks(meta: dict, executable: str) -> list[Source]:
    """One look-up per source: `competitions files` (also fails when its rules are not
    accepted), `datasets status` (prints "ready"), `models instances versions files`,
    `kernels status`. Each exits 1 on a 404/403, unlike `kernels push`."""
    checks = [Source("competition", c, [executable, "competitions", "files", c])
              for c in meta.get("competition_sources", [])]
    checks += [Source("dataset", d, [executable, "datasets", "status", d])
               for d in meta.get("dataset_sources", [])]
    checks += [Source("model", m, [executable, "models", "instances", "versions", "files", m])
               for m in meta.get("model_sources", [])]
    checks += [Source("kernel", k, [executable, "kernels", "status", k])
               for k in meta.get("kernel_sources", [])]
    return checks


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else "(no output)"


def check_sources(checks: list[Source]) -> tuple[list[tuple[Source, str]], list[str]]:
    """Run every look-up: ([(source, why it is bad)], [warnings]). A dataset whose status is
    not "ready" yet (still processing) is a warning; failed or deleted is bad."""
    bad, warnings = [], []
    for source in checks:
        rc, out = probe_kaggle(source.command)
        if rc != 0:
            bad.append((source, last_line(out)))
        elif source.kind == "dataset":
            status = last_line(out).lower()
            if status in DATASET_BROKEN:
                bad.append((source, f"its status is {status}"))
            elif status != DATASET_READY:
                warnings.append(f"dataset {source.ref} is {status!r}, not ready: the notebook "
                                "may get its previous version")
    return bad, warnings


def pushed_version(output: str) -> int | None:
    """N from the CLI's "Kernel version N successfully pushed", else None."""
    found = PUSHED.search(output)
    return int(found.group(1)) if found else None


def dropped_sources(output: str) -> list[str]:
    """The CLI's "The following are not valid ... sources ..." lines (it pushes anyway)."""
    return DROPPED.findall(output)


def read_record(path: Path) -> dict:
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except ValueError as e:
        raise DataError(path, None, None, f"not JSON ({e}): fix or delete it") from None


def last_version(record: dict, kernel_id: str) -> int | None:
    """The last version pushed of `kernel_id`, from the record; None if none was."""
    versions = [p["version"] for p in record.get("pushes", []) if p.get("kernel") == kernel_id]
    return versions[-1] if versions else None
