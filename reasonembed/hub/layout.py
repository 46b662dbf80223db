"""Which files of a `reasonembed generate` output folder a release holds, and where.

The repository tree mirrors the output folder (read through reasonembed.data.output_folder), so
every config keeps the format the factory wrote:

    raw/train-*.parquet  sentence-transformers/train-*.parquet   (parquet shards)
    reasonembed/{domain}.jsonl  flagembedding/{domain}.jsonl      (one JSONL per domain)
    config.yaml  pipeline.yaml  stats.json                        (as written by the factory)
    report/report.md  report/*.png                                (optional, `reasonembed report`)
    validation/validation.json|.md  validation/*.png              (optional, `reasonembed validate`)
    audit/score.json  audit/score.md                              (optional, `reasonembed audit score`)
    README.md  release.json                                       (written by the release)

The quarantine folder is never published: quarantined rows are rejects, not data. Of audit/ only
the score is: the sample and the review files stay local.
`require_complete(output_dir)` refuses a folder that lacks any of the files a release lists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from reasonembed.data import records
from reasonembed.data.output_folder import (
    EXTENSIONS,
    METADATA_FILES,
    REPORT_DIR,
    VALIDATION_DIR,
    OutputFolder,
    config_glob,
)
from reasonembed.errors import UserError
from reasonembed.quality.audit_score import AUDIT_DIR, SCORE_FILE, SCORE_MARKDOWN

log = logging.getLogger(__name__)

CARD_FILE = "README.md"
MANIFEST_FILE = "release.json"
EXTRA_SUFFIXES = {
    REPORT_DIR: (".md", ".png", ".json", ".html"),
    VALIDATION_DIR: (".md", ".png", ".json"),
}
# the audit's published files, once `reasonembed audit score` wrote them (score.json first)
AUDIT_FILES = (SCORE_FILE, SCORE_MARKDOWN)
# files the release writes itself or the repository keeps from its creation
KEPT_REMOTE_FILES = (".gitattributes",)


@dataclass(frozen=True)
class ReleaseFile:
    """One file of the release: its path in the repository and the local file it comes from."""

    path_in_repo: str
    local_path: Path

    @property
    def size(self) -> int:
        return self.local_path.stat().st_size


@dataclass(frozen=True)
class ConfigFiles:
    """The data files of one config (`records.CONFIG_NAMES`), sorted by path."""

    name: str
    format: str  # "parquet" or "jsonl"
    files: tuple[ReleaseFile, ...]

    @property
    def data_files_glob(self) -> str:
        return config_glob(self.name)


@dataclass(frozen=True)
class ReleaseLayout:
    root: Path
    configs: tuple[ConfigFiles, ...]
    metadata: tuple[ReleaseFile, ...]  # config.yaml, pipeline.yaml, stats.json (those present)
    extras: tuple[ReleaseFile, ...]  # report/, validation/ and audit/ files

    def files(self) -> list[ReleaseFile]:
        """Every file copied from the output folder (not the card or the manifest)."""
        data = [file for config in self.configs for file in config.files]
        return data + list(self.metadata) + list(self.extras)

    def config(self, name: str) -> ConfigFiles | None:
        return next((config for config in self.configs if config.name == name), None)


def require_complete(output_dir: str | Path) -> None:
    """UserError (one line) naming what a generate output folder lacks: any config export
    (records.CONFIG_NAMES), stats.json, config.yaml or pipeline.yaml. A folder holding no
    config at all, or no folder, is left to `collect` to explain."""
    folder = OutputFolder(output_dir)
    if not folder.path.is_dir():
        return
    present = [name for name in records.CONFIG_NAMES if folder.config_files(name)]
    if not present:
        return
    missing = [config_glob(name) for name in records.CONFIG_NAMES if name not in present]
    missing += folder.missing_metadata()
    if missing:
        raise UserError(
            f"{folder.path}: incomplete output folder, missing {', '.join(missing)}: a release "
            "needs the whole output of `reasonembed generate` (re-run it into this folder)"
        )


def collect(output_dir: str | Path) -> ReleaseLayout:
    """Find the publishable files of a generate output folder; UserError when there are none."""
    output = OutputFolder(output_dir)
    root = output.path
    if not root.is_dir():
        raise UserError(f"{root}: not a folder; pass the output folder of `reasonembed generate`")
    configs = []
    for name in records.CONFIG_NAMES:
        fmt = records.CONFIG_FORMATS[name]
        found = output.config_files(name)
        if output.subfolder(name).is_dir() and not found:
            raise UserError(
                f"{output.subfolder(name)}: holds no {EXTENSIONS[fmt]} files; "
                "re-run `reasonembed generate`"
            )
        if found:
            files = tuple(ReleaseFile(f"{name}/{path.name}", path) for path in found)
            configs.append(ConfigFiles(name, fmt, files))
    if not configs:
        expected = ", ".join(f"{name}/" for name in records.CONFIG_NAMES)
        raise UserError(
            f"{root}: no dataset config found (expected one of {expected}); "
            "pass the output folder of `reasonembed generate`"
        )
    metadata = []
    for name in METADATA_FILES:
        if (root / name).is_file():
            metadata.append(ReleaseFile(name, root / name))
        else:
            log.warning("%s: no %s; the release and its card will lack it", root, name)
    extras = []
    for folder, suffixes in EXTRA_SUFFIXES.items():
        if output.subfolder(folder).is_dir():
            for path in sorted(output.subfolder(folder).iterdir()):
                if path.is_file() and path.suffix in suffixes:
                    extras.append(ReleaseFile(f"{folder}/{path.name}", path))
    if (output.subfolder(AUDIT_DIR) / SCORE_FILE).is_file():
        for name in AUDIT_FILES:
            path = output.subfolder(AUDIT_DIR) / name
            if path.is_file():
                extras.append(ReleaseFile(f"{AUDIT_DIR}/{name}", path))
    return ReleaseLayout(root, tuple(configs), tuple(metadata), tuple(extras))
