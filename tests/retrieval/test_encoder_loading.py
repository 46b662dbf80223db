"""Encoder loading options: dtype ("auto" by device, or named) and trust_remote_code."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from reasonembed.retrieval import Encoder
from reasonembed.retrieval.models import local_model_status, resolve_dtype, resolve_model_path


def test_resolve_dtype():
    assert resolve_dtype("auto", "cpu") == torch.float32
    assert resolve_dtype(None, "cpu") == torch.float32
    assert resolve_dtype("float16", "cpu") == torch.float16
    assert resolve_dtype(torch.bfloat16, "cpu") == torch.bfloat16
    if torch.cuda.is_available():
        assert resolve_dtype("auto", "cuda") in (torch.float16, torch.bfloat16)
    with pytest.raises(ValueError, match="dtype must be one of"):
        resolve_dtype("fp16", "cpu")


def test_dtype_is_used_and_part_of_the_fingerprint():
    full = Encoder("minilm", device="cpu", dtype="auto")
    half = Encoder("minilm", device="cpu", dtype="bfloat16")
    assert next(full.model.parameters()).dtype == torch.float32
    assert next(half.model.parameters()).dtype == torch.bfloat16
    assert not full.fingerprint.endswith("float32")  # earlier float32 caches stay valid
    assert half.fingerprint == full.fingerprint + "-bfloat16"
    texts = ["a binary heap keeps the smallest item at the root", "merge sort is stable"]
    a, b = full.encode(texts), half.encode(texts)
    assert a.dtype == b.dtype == np.float32
    assert np.allclose(a, b, atol=0.05) and not np.array_equal(a, b)


def test_trust_remote_code_runs_the_folder_s_own_model_class(tmp_path):
    folder = tmp_path / "remote-model"
    shutil.copytree(resolve_model_path("minilm"), folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_tiny.TinyRemoteModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_tiny.py").write_text(
        "from transformers import BertModel\n\n\nclass TinyRemoteModel(BertModel):\n    pass\n"
    )
    assert type(Encoder(str(folder), device="cpu").model).__name__ == "BertModel"
    remote = Encoder(str(folder), device="cpu", trust_remote_code=True)
    assert type(remote.model).__name__ == "TinyRemoteModel"


def test_local_model_status(tmp_path):
    assert local_model_status("minilm")[0] == "bundled"
    assert local_model_status(str(tmp_path)) == ("folder", str(tmp_path.resolve()))
    assert local_model_status("./missing-folder")[0] == "missing"
    state, name = local_model_status("some-org/surely-not-cached-model-xyz")
    assert (state, name) == ("hub", "some-org/surely-not-cached-model-xyz")
