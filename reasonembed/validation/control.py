"""The doc-as-positive control of a validation: the training rows with each query's source
document as its only positive (see reasonembed.validation)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

logger = logging.getLogger(__name__)

RAW_CONFIG = "raw"
RAW_COLUMNS = ["domain", "query", "source_text"]


@dataclass
class Control:
    """The doc-as-positive training rows, or why there are none."""

    rows: list[dict] | None
    reason: str  # how the rows were built, or why the control is unavailable

    @property
    def available(self) -> bool:
        return self.rows is not None


def doc_as_positive_rows(rows: list[dict], data_path: Path) -> Control:
    """The training rows with each query's source document as its only positive.

    Source documents come from the raw config (`raw/*.parquet`: domain, query, source_text),
    matched to training rows by (domain, query). Rows without a match are left out.
    """
    raw_folder = data_path / RAW_CONFIG if data_path.is_dir() else None
    files = sorted(raw_folder.glob("*.parquet")) if raw_folder and raw_folder.is_dir() else []
    if not files:
        return Control(
            None,
            f"the data ({data_path}) has no raw config (raw/*.parquet of a `reasonembed generate` "
            "output folder), which holds each query's source document (`source_text`)",
        )
    source_of: dict[tuple[str, str], str] = {}
    for file in files:
        names = set(pq.ParquetFile(file).schema_arrow.names)
        missing = [column for column in RAW_COLUMNS if column not in names]
        if missing:
            return Control(None, f"{file}: the raw config lacks column(s) {missing}")
        table = pq.read_table(file, columns=RAW_COLUMNS).to_pylist()
        for item in table:
            if item["source_text"] and item["source_text"].strip():
                source_of.setdefault((item["domain"], item["query"]), item["source_text"])
    control = [
        {**row, "pos": [source_of[(row["domain"], row["query"])]]}
        for row in rows
        if (row["domain"], row["query"]) in source_of
    ]
    if not control:
        return Control(
            None,
            f"no training query of {data_path} was found in its raw config (matched by domain "
            "and query text), so no source document is known",
        )
    left_out = len(rows) - len(control)
    reason = f"{len(control)} queries, source document as the only positive"
    if left_out:
        reason += f" ({left_out} queries without a raw source document left out)"
        logger.warning("doc-as-positive control: %d queries have no raw source text", left_out)
    return Control(control, reason)
