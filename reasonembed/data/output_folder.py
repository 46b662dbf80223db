"""Reading a `reasonembed generate` output folder: the one place that knows where its parts are.

The folder is written by reasonembed/factory/output_writer.py and reasonembed/factory/generate.py (file names
and the raw schema in reasonembed/data/records.py); `reasonembed report` and `reasonembed validate`
add their own sub-folders:

    raw/train-*.parquet                    the `raw` config, one sample per row
    sentence-transformers/train-*.parquet  the other configs, in their consumers' formats
    reasonembed/{domain}.jsonl  flagembedding/{domain}.jsonl
    quarantine/quarantine.parquet          rejected rows (records.QUARANTINE_FILE)
    stats.json  config.yaml  pipeline.yaml (records.STATS_FILE, CONFIG_FILE, PIPELINE_FILE)
    report/                                `reasonembed report` (REPORT_DIR)
    validation/validation.json, ...        `reasonembed validate` (VALIDATION_DIR)

`generate` writes GENERATED_ENTRIES; what else the folder holds (report/, validation/, a user's
files) was added later: `added_entries`, which a re-run of the same config keeps or rewrites.
`OutputFolder(path)` reads nothing until asked; what is absent reads as empty ([] files, None
quarantine, {} config) unless a method says it raises `UserError`, whose message names the
folder or file and what is missing. Data is streamed: `iter_raw` yields record batches of only
the requested columns, `rows` counts from parquet metadata or line by line; nothing here
holds a whole config in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from reasonembed.data.records import (
    CONFIG_FILE,
    CONFIG_FORMATS,
    CONFIG_NAMES,
    PIPELINE_FILE,
    QUARANTINE_FILE,
    STATS_FILE,
)
from reasonembed.data.stats import RunStats
from reasonembed.errors import UserError

RAW = "raw"
EXTENSIONS = {"parquet": ".parquet", "jsonl": ".jsonl"}  # a config's format -> its files' suffix
METADATA_FILES = (CONFIG_FILE, PIPELINE_FILE, STATS_FILE)
REPORT_DIR = "report"
VALIDATION_DIR = "validation"
VALIDATION_FILE = "validation.json"
# the top-level entries `generate` writes (each replaced as a whole by a re-run)
GENERATED_ENTRIES = (*CONFIG_NAMES, QUARANTINE_FILE.split("/")[0], *METADATA_FILES)


def config_glob(name: str) -> str:
    """The data files of config `name` relative to the folder: "raw/*.parquet", ..."""
    return f"{name}/*{EXTENSIONS[CONFIG_FORMATS[name]]}"


def count_rows(path: Path) -> int:
    """Rows of a parquet file (from its metadata) or non-blank lines of a JSONL file."""
    if path.suffix == EXTENSIONS["parquet"]:
        return pq.ParquetFile(path).metadata.num_rows
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


class OutputFolder:
    """A generate output folder at `path` (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"OutputFolder({str(self.path)!r})"

    # --- where things are (whether or not they exist) --------------------------------------
    def subfolder(self, name: str) -> Path:
        """path/name: a config's folder, or report/ or validation/."""
        return self.path / name

    @property
    def stats_path(self) -> Path:
        return self.path / STATS_FILE

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG_FILE

    @property
    def quarantine_path(self) -> Path:
        return self.path / QUARANTINE_FILE

    @property
    def report_dir(self) -> Path:
        return self.path / REPORT_DIR

    @property
    def validation_dir(self) -> Path:
        return self.path / VALIDATION_DIR

    # --- checks ----------------------------------------------------------------------------
    def require_folder(self) -> OutputFolder:
        """Itself; UserError when the path is not a folder."""
        if not self.path.is_dir():
            raise UserError(
                f"{self.path} is not a folder: pass the output folder of `reasonembed generate`"
            )
        return self

    def missing_metadata(self) -> list[str]:
        """Those of config.yaml, pipeline.yaml and stats.json the folder lacks."""
        return [name for name in METADATA_FILES if not (self.path / name).is_file()]

    def added_entries(self) -> list[Path]:
        """What other commands or the user added to the folder (report/, validation/, notes):
        every top-level entry but GENERATED_ENTRIES and the hidden leftovers of staged writes
        (`.NAME.partial-PID`, `.NAME.old-PID`), sorted; [] when the folder does not exist."""
        if not self.path.is_dir():
            return []
        return sorted(
            entry
            for entry in self.path.iterdir()
            if entry.name not in GENERATED_ENTRIES
            and not (
                entry.name.startswith(".") and (".partial-" in entry.name or ".old-" in entry.name)
            )
        )

    # --- metadata --------------------------------------------------------------------------
    @property
    def stats(self) -> RunStats:
        """stats.json; UserError naming the file when it is missing or not in this shape."""
        return RunStats.read(self.path)

    def recorded_stats(self) -> dict:
        """stats.json as it is, read leniently (the stats of an older version or of a stopped run
        still tell which config wrote the folder and what its runs used); {} when it is missing
        or not a JSON object."""
        try:
            data = json.loads(self.stats_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def recorded_config_hash(self) -> str | None:
        """The `config_hash` stats.json records (`recorded_stats`); None when there is none."""
        return self.recorded_stats().get("config_hash")

    @property
    def config(self) -> dict:
        """config.yaml (the resolved FactoryConfig) as a dict; {} when the folder has none or it
        is not a mapping; UserError naming the file when it is not YAML."""
        path = self.config_path
        if not path.is_file():
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as error:
            raise UserError(f"{path}: not valid YAML: {error}") from error
        return data if isinstance(data, dict) else {}

    # --- data files ------------------------------------------------------------------------
    def config_files(self, name: str) -> list[Path]:
        """The data files of config `name` (records.CONFIG_NAMES) in its format, sorted; [] when
        there are none."""
        folder = self.subfolder(name)
        if not folder.is_dir():
            return []
        return sorted(folder.glob(f"*{EXTENSIONS[CONFIG_FORMATS[name]]}"))

    def domain_files(self, name: str) -> dict[str, Path]:
        """{domain: file} of a per-domain JSONL export (`reasonembed`, `flagembedding`)."""
        return {path.stem: path for path in self.config_files(name)}

    def rows(self, name: str) -> int:
        """Rows of config `name` (0 when it has no file)."""
        return sum(count_rows(path) for path in self.config_files(name))

    def quarantine_file(self) -> Path | None:
        """quarantine/quarantine.parquet, or None when the folder has none."""
        path = self.quarantine_path
        return path if path.is_file() else None

    # --- the raw config --------------------------------------------------------------------
    def raw_files(self, required: bool = False) -> list[Path]:
        """The raw shards, sorted; with `required`, UserError when there are none."""
        files = self.config_files(RAW)
        if required and not files:
            raise UserError(
                f"no raw parquet files under {self.subfolder(RAW)}: pass the output folder of "
                "`reasonembed generate` (it holds raw/train-*.parquet)"
            )
        return files

    def raw_schema(self) -> pa.Schema:
        """The fields of the raw shards (read from their footers), in first-seen order."""
        fields: dict[str, pa.Field] = {}
        for path in self.raw_files():
            for field in pq.read_schema(path):
                fields.setdefault(field.name, field)
        return pa.schema(list(fields.values()))

    def raw_columns_missing(self, columns: list[str]) -> tuple[Path, list[str]] | None:
        """The first raw shard lacking any of `columns`, with those it lacks; None when every
        shard has them all."""
        for path in self.raw_files():
            names = set(pq.read_schema(path).names)
            missing = [column for column in columns if column not in names]
            if missing:
                return path, missing
        return None

    def iter_raw(
        self, columns: list[str] | None = None, batch_rows: int = 1_000
    ) -> Iterator[pa.RecordBatch]:
        """Record batches of at most `batch_rows` rows of the raw shards, shard after shard, each
        holding those of `columns` (in that order) its shard has; every column when None."""
        for path in self.raw_files():
            parquet = pq.ParquetFile(path)
            names = set(parquet.schema_arrow.names)
            present = None if columns is None else [c for c in columns if c in names]
            yield from parquet.iter_batches(batch_size=batch_rows, columns=present)
