"""Atomic file writes (write to a temporary name beside the target, then rename): a killed run
never leaves a truncated file under a final name. The output folder itself is written by
`reasonembed.factory.output_writer` (streamed) and put in place as a whole by `reasonembed generate`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def _atomic_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".tmp-{path.name}")


def write_json(data: Any, path: Path) -> None:
    tmp = _atomic_path(path)
    tmp.write_text(
        json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    os.replace(tmp, path)


def write_text(text: str, path: Path) -> None:
    tmp = _atomic_path(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
