"""Corpus loading and validation.

A corpus is a list of documents `doc_id` (str, unique), `text` (str, non-empty), optional
`title`, all of one `domain`. Sources (`CorpusSource.path` + `format`):

    jsonl     a .jsonl file, or a folder of them (one JSON object per line)
    parquet   a .parquet file, or a folder of them
    datasets  a folder written by `datasets.Dataset.save_to_disk`
    hub       a Hub dataset repo id, `org/name[@revision]` (split `split`)
    bright    a folder in the BRIGHT Hub layout (`reasonembed.bright.data`):
              documents/<task>-00000-of-00001.parquet (fields id, content), the task being
              `bright_task` or the domain name; `path: hub` reads that file from the BRIGHT Hub
              dataset at the pinned revision
    python-docs  the docstrings of Python standard-library modules, `path` being a
              comma-separated list of module names (the offline demo corpus: every machine
              with Python has it); doc_id is the qualified name

`format: auto` picks by suffix / folder contents. Field names are configurable (`id_field`,
`text_field`, `title_field`). Every problem is reported as `UserError("FILE: row N: field F: ...")`
before any LLM call; files are decoded strictly (a byte that is not UTF-8 is named by file, line
and byte offset).

`iter_documents` streams validated documents (one batch of rows in memory at a time);
`load_corpus` collects them; `scan_corpus` only counts them (the preflight check, which must
not hold a large corpus in memory next to the one `generate` loads).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from reasonembed.bright.data import HUB_REPO, file_name, task_file
from reasonembed.data.textio import json_object_lines
from reasonembed.errors import UserError

logger = logging.getLogger(__name__)

CorpusFormat = Literal["auto", "jsonl", "parquet", "datasets", "hub", "bright", "python-docs"]
BATCH_ROWS = 8192  # rows decoded at a time from parquet files and Arrow tables


class CorpusSource(BaseModel):
    """Where a domain's corpus comes from and which fields hold id, text and title."""

    model_config = ConfigDict(extra="forbid")

    path: str
    format: CorpusFormat = "auto"
    id_field: str = "doc_id"
    text_field: str = "text"
    title_field: str | None = None
    split: str = "train"
    bright_task: str | None = None


@dataclass
class Corpus:
    domain: str
    doc_ids: list[str]
    texts: list[str]
    titles: list[str | None] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.doc_ids)


def detect_format(path: Path) -> str:
    if path.is_file():
        if path.suffix == ".jsonl":
            return "jsonl"
        if path.suffix == ".parquet":
            return "parquet"
        raise UserError(f"{path}: cannot tell the corpus format from the suffix; set `format`")
    if path.is_dir():
        if (path / "documents").is_dir():
            return "bright"
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return "datasets"
        if any(path.glob("*.parquet")):
            return "parquet"
        if any(path.glob("*.jsonl")):
            return "jsonl"
        raise UserError(f"{path}: folder holds no .jsonl, .parquet, datasets or BRIGHT files")
    if "/" in str(path) and not str(path).startswith((".", "/")):
        return "hub"
    raise UserError(f"{path}: corpus path does not exist")


def _files(path: Path, suffix: str) -> list[Path]:
    if not path.exists():
        raise UserError(f"{path}: corpus path does not exist")
    files = [path] if path.is_file() else sorted(path.glob(f"*{suffix}"))
    if not files:
        raise UserError(f"{path}: no {suffix} files found")
    return files


def _jsonl_records(path: Path) -> Iterator[tuple[str, int, dict]]:
    """(file, line, object) of every non-blank line; bytes decoded strictly, line by line."""
    for file in _files(path, ".jsonl"):
        for line_number, record in json_object_lines(file):
            yield str(file), line_number, record


def _batch_rows(batch: pa.RecordBatch, where: str, first_row: int) -> list[dict]:
    """The rows of one Arrow batch as dicts; UserError naming the row of a string that is not
    UTF-8 (Arrow stores strings unchecked; Python refuses them)."""
    try:
        return batch.to_pylist()
    except UnicodeDecodeError:
        for name in batch.schema.names:
            column = batch.column(name)
            for index in range(len(column)):
                try:
                    column[index].as_py()
                except UnicodeDecodeError:
                    raise UserError(
                        f"{where}: row {first_row + index}: field {name!r} is not valid UTF-8"
                    ) from None
        raise


def _table_records(
    batches: Iterable[pa.RecordBatch], where: str
) -> Iterator[tuple[str, int, dict]]:
    row_number = 1
    for batch in batches:
        for record in _batch_rows(batch, where, row_number):
            yield where, row_number, record
            row_number += 1


def _parquet_records(path: Path, columns: list[str]) -> Iterator[tuple[str, int, dict]]:
    for file in _files(path, ".parquet"):
        try:
            parquet = pq.ParquetFile(file)
        except (OSError, pa.ArrowException) as error:
            raise UserError(f"{file}: not a readable parquet file: {error}") from None
        present = [name for name in columns if name in parquet.schema_arrow.names]
        batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=present)
        yield from _table_records(batches, str(file))


def _datasets_records(source: CorpusSource, hub: bool) -> Iterator[tuple[str, int, dict]]:
    import datasets

    if hub:
        repo, _, revision = source.path.partition("@")
        dataset = datasets.load_dataset(repo, split=source.split, revision=revision or None)
    else:
        loaded = datasets.load_from_disk(source.path)
        dataset = loaded[source.split] if isinstance(loaded, datasets.DatasetDict) else loaded
    yield from _table_records(dataset.data.table.to_batches(BATCH_ROWS), source.path)


def _python_doc_records(modules: str) -> Iterator[tuple[str, int, dict]]:
    import importlib
    import inspect

    row = 0
    for module_name in [name.strip() for name in modules.split(",") if name.strip()]:
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise UserError(
                f"python-docs corpus: cannot import module {module_name!r}: {error}"
            ) from error
        members = [(module_name, module)] + [
            (f"{module_name}.{name}", member)
            for name, member in sorted(vars(module).items())
            if not name.startswith("_")
            and (inspect.isfunction(member) or inspect.isclass(member) or inspect.isbuiltin(member))
            and getattr(member, "__module__", module_name).split(".")[0]
            in (module_name, "_" + module_name)
        ]
        for qualified_name, member in members:
            doc = inspect.getdoc(member)
            if doc:
                row += 1
                yield (
                    f"python-docs:{module_name}",
                    row,
                    {"doc_id": qualified_name, "text": f"{qualified_name}\n\n{doc}"},
                )


def _require_hub(what: str) -> None:
    """UserError at once when the Hub cannot be reached (its client would retry for minutes)."""
    from reasonembed.network import hub_unreachable

    problem = hub_unreachable()
    if problem:
        raise UserError(f"corpus {what}: cannot read it from the Hub: {problem}")


def _records(
    source: CorpusSource, domain: str
) -> tuple[Iterator[tuple[str, int, dict]], CorpusSource]:
    path = Path(source.path).expanduser()
    fmt = source.format if source.format != "auto" else detect_format(path)
    if fmt == "python-docs":
        return _python_doc_records(source.path), source.model_copy(
            update={"id_field": "doc_id", "text_field": "text"}
        )
    if fmt == "bright":
        task = source.bright_task or domain
        if source.path == "hub":
            _require_hub(f"{HUB_REPO} documents of {task}")
            file = task_file("hub", "documents", task)
        else:
            file = path / file_name("documents", task)
        if not file.exists():
            raise UserError(f"{file}: BRIGHT documents file for task {task!r} not found")
        source = source.model_copy(update={"id_field": "id", "text_field": "content"})
        return _parquet_records(file, ["id", "content"]), source
    columns = [source.id_field, source.text_field] + (
        [source.title_field] if source.title_field else []
    )
    if fmt == "jsonl":
        return _jsonl_records(path), source
    if fmt == "parquet":
        return _parquet_records(path, columns), source
    if fmt == "hub":
        _require_hub(source.path)
    if fmt in ("datasets", "hub"):
        return _datasets_records(source, hub=fmt == "hub"), source
    raise UserError(f"{source.path}: unknown corpus format {fmt!r}")


def corpus_columns(path: Path) -> tuple[str, list[str]]:
    """(format, column names) of a local jsonl, parquet or `datasets` corpus, read from its first
    record or schema without loading it; UserError when it is none of these."""
    fmt = detect_format(path)
    if fmt == "jsonl":
        return fmt, list(next(_jsonl_records(path), ("", 0, {}))[2])
    if fmt == "parquet":
        file = _files(path, ".parquet")[0]
        try:
            return fmt, pq.read_schema(file).names
        except (OSError, pa.ArrowException) as error:
            raise UserError(f"{file}: not a readable parquet file: {error}") from None
    if fmt == "datasets":
        import datasets

        loaded = datasets.load_from_disk(str(path))
        first = next(iter(loaded.values())) if isinstance(loaded, datasets.DatasetDict) else loaded
        return fmt, list(first.column_names)
    raise UserError(f"{path}: a {fmt} corpus; give a .jsonl or .parquet file or a folder of them")


def on_hub(source: CorpusSource) -> bool:
    """True when the corpus is read from the Hub (it cannot be checked offline)."""
    if source.format == "hub" or (source.format == "bright" and source.path == "hub"):
        return True
    if source.format != "auto":
        return False
    path = Path(source.path).expanduser()
    return not path.exists() and "/" in source.path and not source.path.startswith((".", "/"))


def iter_documents(source: CorpusSource, domain: str) -> Iterator[tuple[str, str, str | None]]:
    """Validated (doc_id, text, title) of a corpus, streamed; raises `UserError` naming file,
    row and field (missing or empty fields, duplicate ids, bytes that are not UTF-8, an empty
    corpus). Holds the ids seen (for duplicates), not the texts."""
    records, source = _records(source, domain)
    first_row: dict[str, int] = {}
    for where, row, record in records:
        for name in (source.id_field, source.text_field):
            if name not in record or record[name] is None:
                raise UserError(
                    f"{where}: row {row}: missing field {name!r} (set `id_field`/`text_field` if your columns are named differently)"
                )
        doc_id, text = record[source.id_field], record[source.text_field]
        if isinstance(doc_id, int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str) or not doc_id:
            raise UserError(
                f"{where}: row {row}: field {source.id_field!r} must be a non-empty string, got {doc_id!r}"
            )
        if not isinstance(text, str):
            raise UserError(
                f"{where}: row {row}: field {source.text_field!r} must be text, got {type(text).__name__}"
            )
        if not text.strip():
            raise UserError(
                f"{where}: row {row}: field {source.text_field!r} is empty (doc_id {doc_id!r})"
            )
        if doc_id in first_row:
            raise UserError(
                f"{where}: row {row}: duplicate doc_id {doc_id!r} (first seen at row {first_row[doc_id]})"
            )
        first_row[doc_id] = row
        yield doc_id, text, record.get(source.title_field) if source.title_field else None
    if not first_row:
        raise UserError(f"{source.path}: corpus for domain {domain!r} is empty")


def load_corpus(source: CorpusSource, domain: str) -> Corpus:
    """Load and validate a corpus; raises `UserError` naming file, row and field."""
    corpus = Corpus(domain=domain, doc_ids=[], texts=[], titles=[], source=source.path)
    for doc_id, text, title in iter_documents(source, domain):
        corpus.doc_ids.append(doc_id)
        corpus.texts.append(text)
        corpus.titles.append(title)
    logger.info("corpus %s: %d documents from %s", domain, len(corpus), source.path)
    return corpus


def scan_corpus(source: CorpusSource, domain: str) -> int:
    """Validate a corpus as `load_corpus` does, streaming; returns its number of documents."""
    return sum(1 for _ in iter_documents(source, domain))
