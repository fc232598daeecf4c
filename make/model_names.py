"""The registry's model names by kind, for Make: MODEL= is resolved by what the name is, not by
which goal is typed.

    python3 make/model_names.py --out data/runs/model-names.mk
        MODELS.retriever := minilm bge-large e5-mistral qwen14b-emb
        MODELS.reranker := qwen32b qwen14b qwen72b gemma9b smollm135m
        NEGATIVES.minilm := zs      (each embedder's Retriever.negatives_from)

The Makefile includes the file (remade when scripts/eedi/registry.py changes): MODEL=qwen32b
sets RERANKER, MODEL=bge-large sets EMBEDDER, anything else is an error that names both.
Standard library only, like eedi/registry.py itself: it runs before any virtual environment.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

REGISTRY = Path("scripts/eedi/registry.py")


def load_registry(path: Path = REGISTRY):
    """eedi/registry.py as a module of its own (not through the eedi package, whose other
    modules need the virtual environment's libraries)."""
    spec = importlib.util.spec_from_file_location("eedi_registry", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks its module up while building a class
    spec.loader.exec_module(module)
    return module


def make_variables(registry) -> str:
    """MODELS.retriever / MODELS.reranker := the registry's names, in the registry's order;
    NEGATIVES.<embedder> := the ranking its hard negatives come from by default."""
    return (f"MODELS.retriever := {' '.join(registry.RETRIEVERS)}\n"
            f"MODELS.reranker := {' '.join(registry.RERANKERS)}\n"
            + "".join(f"NEGATIVES.{name} := {spec.negatives_from}\n"
                      for name, spec in registry.RETRIEVERS.items()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(make_variables(load_registry()))
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
