"""Reading training rows in the `reasonembed` format from a folder, a file or a Hub repo.

`load_training_rows(source, domains=None) -> list[dict]` accepts:

- a `reasonembed generate` output folder (reasonembed.data.output_folder): its
  `reasonembed/{domain}.jsonl` files are read;
- a folder (searched recursively) or a single file of `.jsonl` / `.parquet` in the reasonembed
  format; the authors' release is one `{domain}-formatted.jsonl` per domain;
- a Hub dataset repo id with an optional `@revision` (`owner/name@v1.0`), fetched with
  `huggingface_hub.snapshot_download` restricted to the reasonembed files (HF_ENDPOINT is
  honoured, so a Hub-API server on 127.0.0.1 works too).

Each returned row holds `prompt, query, reasoning_query, pos, neg, train_group_size, batch_size`
(the published format; `reasoning_query`, `train_group_size` and `batch_size` are None where a
file lacks them) plus `domain` (the row's own `domain` field, else the file name without a
`-formatted` suffix), `source_file` and `source_row` (1-based) for error messages.
A row without a query or a positive raises `UserError` naming file, row and field.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow.parquet as pq

from reasonembed.data.output_folder import OutputFolder
from reasonembed.data.records import REASONEMBED_COLUMNS
from reasonembed.errors import UserError

logger = logging.getLogger(__name__)

DATA_SUFFIXES = (".jsonl", ".parquet")
PARQUET_BATCH_ROWS = 1_000
REASONEMBED_SUBFOLDER = "reasonembed"
RELEASE_SUFFIX = "-formatted"
# files a Hub snapshot needs: our own export folder and the authors' `{domain}-formatted.jsonl`
HUB_ALLOW_PATTERNS = (
    f"{REASONEMBED_SUBFOLDER}/*.jsonl",
    f"{REASONEMBED_SUBFOLDER}/*.parquet",
    f"*{RELEASE_SUFFIX}.jsonl",
    f"*{RELEASE_SUFFIX}.parquet",
)
_REPO_ID = re.compile(r"^[\w.\-]+/[\w.\-]+(@[\w.\-/]+)?$")


def load_training_rows(source: str, domains: Sequence[str] | None = None) -> list[dict]:
    """All rows of `source` (see module doc), optionally only those of `domains`, in file order."""
    files = resolve_data_files(source)
    wanted = set(domains) if domains else None
    rows: list[dict] = []
    for path in files:
        for row in read_rows(path):
            if wanted is None or row["domain"] in wanted:
                rows.append(row)
    if wanted is not None:
        missing = wanted - {row["domain"] for row in rows}
        if missing:
            raise UserError(
                f"{source}: no rows for domain(s) {sorted(missing)}; "
                f"found {sorted({r['domain'] for r in rows}) or 'none'}"
            )
    if not rows:
        raise UserError(f"{source}: no training rows found in {[str(f) for f in files]}")
    logger.info("read %d training rows from %d file(s) of %s", len(rows), len(files), source)
    return rows


def is_repo_id(source: str) -> bool:
    """True when `source` reads as a Hub dataset id `owner/name[@revision]`."""
    return bool(_REPO_ID.match(source))


def resolve_data_files(source: str) -> list[Path]:
    """The data files of `source`: a local path, else a Hub repo id downloaded to the cache."""
    path = Path(source).expanduser()
    if path.exists():
        return data_files_in(path)
    if is_repo_id(source):
        return data_files_in(download_hub_dataset(source))
    raise UserError(
        f"training data {source!r} is neither an existing file or folder nor a Hub repo id "
        "(owner/name[@revision])"
    )


def data_files_in(path: Path) -> list[Path]:
    """jsonl/parquet files of a file or folder; a generate output folder gives its reasonembed/ files."""
    if path.is_file():
        if path.suffix not in DATA_SUFFIXES:
            raise UserError(f"{path}: expected a .jsonl or .parquet file in the reasonembed format")
        return [path]
    export = OutputFolder(path).subfolder(REASONEMBED_SUBFOLDER)
    folder = export if export.is_dir() else path
    files = sorted(
        file
        for file in folder.rglob("*")
        if file.suffix in DATA_SUFFIXES and not any(p.startswith(".") for p in file.parts[-2:])
    )
    if not files:
        raise UserError(
            f"{path}: no .jsonl or .parquet files found (expected a `reasonembed generate` output "
            f"folder with a {REASONEMBED_SUBFOLDER}/ sub-folder, or reasonembed-format files)"
        )
    return files


def download_hub_dataset(source: str, extra_patterns: Sequence[str] = ()) -> Path:
    """Snapshot of the reasonembed files (plus `extra_patterns`, e.g. "raw/*.parquet") of Hub
    dataset `owner/name[@revision]`; the local folder."""
    from huggingface_hub import snapshot_download

    repo_id, _, revision = source.partition("@")
    try:
        folder = snapshot_download(
            repo_id=repo_id,
            repo_type="dataset",
            revision=revision or None,
            allow_patterns=[*HUB_ALLOW_PATTERNS, *extra_patterns],
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    except Exception as error:  # network, auth, missing repo or revision
        raise UserError(
            f"could not download dataset {repo_id!r} at revision {revision or 'main'!r} from the "
            f"Hub: {error}. Check the id and revision, or pass a local folder."
        ) from error
    return Path(folder)


def domain_of_file(path: Path) -> str:
    """`biology-formatted.jsonl` -> `biology`; `reasonembed/biology.jsonl` -> `biology`."""
    stem = path.name.removesuffix(path.suffix)
    return stem.removesuffix(RELEASE_SUFFIX)


def _raw_rows(path: Path) -> Iterator[tuple[int, object]]:
    """(1-based row number, row) of a file, parquet a record batch at a time."""
    if path.suffix == ".parquet":
        number = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                number += 1
                yield number, row
        return
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as error:
                raise UserError(f"{path}, row {number}: not valid JSON ({error})") from error


def read_rows(path: Path) -> Iterator[dict]:
    """Validated rows of one file (see module doc for the row contract)."""
    file_domain = domain_of_file(path)
    for number, raw in _raw_rows(path):
        yield validate_row(raw, path, number, file_domain)


def _text_list(value: object, where: str, field: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise UserError(
            f"{where}: field {field!r} must be a list of strings, got {type(value).__name__}"
        )
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise UserError(f"{where}: field {field!r} holds an empty or non-string entry")
    return list(value)


def _optional_int(value: object, where: str, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"{where}: field {field!r} must be a positive integer, got {value!r}")
    return int(value)


def validate_row(raw: object, path: Path, number: int, file_domain: str) -> dict:
    """One row in the training contract, or `UserError` naming file, row and field."""
    where = f"{path}, row {number}"
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a JSON object with fields {list(REASONEMBED_COLUMNS)}")
    query = raw.get("query")
    if not isinstance(query, str) or not query.strip():
        raise UserError(f"{where}: field 'query' is missing or empty")
    pos = _text_list(raw.get("pos"), where, "pos")
    if not pos:
        raise UserError(f"{where}: field 'pos' has no positive; every row needs at least one")
    prompt = raw.get("prompt") or ""
    if not isinstance(prompt, str):
        raise UserError(f"{where}: field 'prompt' must be a string")
    reasoning_query = raw.get("reasoning_query")
    if reasoning_query is not None and not isinstance(reasoning_query, str):
        raise UserError(f"{where}: field 'reasoning_query' must be a string")
    domain = raw.get("domain") or file_domain
    return {
        "prompt": prompt,
        "query": query,
        "reasoning_query": reasoning_query or None,
        "pos": pos,
        "neg": _text_list(raw.get("neg"), where, "neg"),
        "train_group_size": _optional_int(raw.get("train_group_size"), where, "train_group_size"),
        "batch_size": _optional_int(raw.get("batch_size"), where, "batch_size"),
        "domain": str(domain),
        "source_file": str(path),
        "source_row": number,
    }
