"""eedi.kaggle.kernel: kernel-metadata.json for a code competition, written and checked by the
same rules, with one slug rule (the kaggle CLI's). (The checks on a folder read back before a
push, and the sources and records, are tested with scripts/kaggle/kernel.py in
test_kernel_script.py.)"""

import json

import pytest

from eedi.defaults import COMPETITION
from eedi.kaggle.kernel import METADATA, kernel_metadata, read_metadata, slug_of


def test_metadata_is_private_gpu_t4_offline_with_its_sources():
    meta = kernel_metadata("me/eedi-inference", "Eedi inference", "eedi-inference.ipynb",
                           ["me/eedi-code", "me/eedi-plan", "me/eedi-minilm", "me/eedi-wheels"],
                           ["qwen-lm/qwen2.5/transformers/32b-instruct-awq/1"])
    assert meta == {
        "id": "me/eedi-inference", "title": "Eedi inference", "code_file": "eedi-inference.ipynb",
        "language": "python", "kernel_type": "notebook", "is_private": True, "enable_gpu": True,
        "enable_tpu": False, "enable_internet": False, "machine_shape": "NvidiaTeslaT4",
        "docker_image_pinning_type": "original",  # the hidden rerun keeps the image it ran on
        "dataset_sources": ["me/eedi-code", "me/eedi-plan", "me/eedi-minilm", "me/eedi-wheels"],
        "competition_sources": [COMPETITION], "kernel_sources": [],
        "model_sources": ["qwen-lm/qwen2.5/transformers/32b-instruct-awq/1"]}


@pytest.mark.parametrize("kernel_id, title, error", [
    ("me/eedi", "Eedi", "id: slug 'eedi' has 4 characters; Kaggle wants 5-50"),
    ("me/Eedi-Inference", "Eedi Inference", "is not USER/SLUG"),   # upper case
    ("eedi-inference", "Eedi inference", "is not USER/SLUG"),      # no user
    ("me/eedi-inference", "Eedi inference v2", "resolves to the slug 'eedi-inference-v2'"),
])
def test_bad_ids_and_titles_are_refused_when_written(kernel_id, title, error):
    with pytest.raises(ValueError, match=error):
        kernel_metadata(kernel_id, title, "k.ipynb", ["me/eedi-code"], [])


@pytest.mark.parametrize("title, slug", [("Eedi inference (2x T4)", "eedi-inference-2x-t4"),
                                         ("Eedi inférence", "eedi-inference")])
def test_the_id_written_from_a_title_is_the_id_the_push_check_accepts(tmp_path, title, slug):
    """One slug rule, the kaggle CLI's: make kernel's default id is USER/slug_of(title), and
    read_metadata (before a push) accepts exactly that. (Two rules once gave "eedi-inf-rence"
    to a title with an "é", which the push check then refused.)"""
    assert slug_of(title) == slug
    meta = kernel_metadata(f"me_2/{slug_of(title)}", title, "k.ipynb", ["me/eedi-code"], [])
    (tmp_path / METADATA).write_text(json.dumps(meta))
    (tmp_path / "k.ipynb").write_text(json.dumps({"cells": [], "metadata": {"kernelspec": {}}}))
    assert read_metadata(tmp_path) == meta
