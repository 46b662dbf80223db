"""Writing a `reasonembed generate` output folder (layout: reasonembed/records.py).

Parquet configs are written in shards of `shard_rows` rows (`train-IIIII-of-NNNNN.parquet`),
JSONL configs as one file per domain. Files are written to temporary names and renamed, so a
killed run never leaves a truncated file under a final name.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from reasonembed.records import RAW_SCHEMA


def _atomic_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".tmp-{path.name}")


def write_parquet_shards(
    rows: list[dict[str, Any]],
    folder: Path,
    shard_rows: int = 10_000,
    schema: pa.Schema | None = None,
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    n_shards = max(1, math.ceil(len(rows) / shard_rows))
    paths = []
    for shard in range(n_shards):
        chunk = rows[shard * shard_rows : (shard + 1) * shard_rows]
        table = (
            pa.Table.from_pylist(chunk, schema=schema)
            if schema is not None
            else pa.Table.from_pylist(chunk)
        )
        path = folder / f"train-{shard:05d}-of-{n_shards:05d}.parquet"
        tmp = _atomic_path(path)
        pq.write_table(table, tmp)
        os.replace(tmp, path)
        paths.append(path)
    return paths


def write_parquet(rows: list[dict[str, Any]], path: Path, schema: pa.Schema) -> Path:
    """One parquet file with `schema` (written even when there are no rows)."""
    tmp = _atomic_path(path)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), tmp)
    os.replace(tmp, path)
    return path


def raw_schema_for(rows: list[dict[str, Any]]) -> pa.Schema:
    """RAW_SCHEMA and the quality columns (reasonembed.quality), plus the extra columns (usage)
    as inferred from the rows."""
    from reasonembed.quality.filters import QUALITY_FIELDS

    inferred = pa.Table.from_pylist(rows).schema if rows else pa.schema([])
    fields = list(RAW_SCHEMA) + [
        field for field in QUALITY_FIELDS if field.name not in RAW_SCHEMA.names
    ]
    known = {field.name for field in fields}
    fields += [field for field in inferred if field.name not in known]
    return pa.schema(fields)


def write_jsonl_by_domain(
    rows_by_domain: dict[str, list[dict[str, Any]]], folder: Path
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for domain, rows in sorted(rows_by_domain.items()):
        path = folder / f"{domain}.jsonl"
        tmp = _atomic_path(path)
        with open(tmp, "w", encoding="utf-8") as handle:
            for row in rows:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        os.replace(tmp, path)
        paths.append(path)
    return paths


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


def group_by_domain(
    samples: list[dict[str, Any]], rows: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample, row in zip(samples, rows, strict=True):
        grouped[sample["domain"]].append(row)
    return dict(grouped)
