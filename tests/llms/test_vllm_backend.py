"""The vLLM class: imports without vLLM; runs for real where vLLM is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
import yaml

from reasonembed.config import parse_config
from reasonembed.errors import UserError
from reasonembed.llms import build_llm

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_module_imports_without_vllm_and_serialises(tmp_path):
    # a fresh interpreter: importing the backend must not import vllm
    code = "import sys, reasonembed.llms.vllm_backend; print('vllm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    config = parse_config(
        {
            "domains": [{"domain": "leetcode", "corpus": {"path": "x.jsonl"}}],
            "annotator": {"backend": "vllm", "model": "some/model", "top_k": None},
        }
    )
    llm = build_llm(config.annotator, str(tmp_path), 42)
    dumped = yaml.safe_dump(llm.dump())
    assert "enable_prefix_caching: true" in dumped and "logits_processors" not in dumped


@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed: the real test runs instead")
def test_load_without_vllm_names_the_extra(tmp_path):
    from reasonembed.llms.vllm_backend import VLLMLLM

    with pytest.raises(UserError, match=r"reasonembed\[vllm\]"):
        VLLMLLM(model="m").load()


@pytest.mark.skipif(not HAS_VLLM, reason="vLLM not installed (optional extra [vllm])")
def test_vllm_generates_and_caches(local_model_dir, tmp_path):
    from reasonembed.llms.vllm_backend import VLLMLLM

    llm = VLLMLLM(
        model=str(local_model_dir),
        temperature=0.0,
        max_new_tokens=8,
        request_cache_path=str(tmp_path / "requests.sqlite"),
    )
    llm.load()
    first = llm.complete(["Name a sorting algorithm.", "Name a colour."], template_hash="t")
    assert all(c.text and c.prompt_tokens > 0 and c.completion_tokens > 0 for c in first)
    again = llm.complete(["Name a sorting algorithm.", "Name a colour."], template_hash="t")
    assert [c.text for c in again] == [c.text for c in first] and all(c.cached for c in again)
