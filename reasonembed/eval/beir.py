"""BEIR-format evaluation sets: a folder read into an `EvalTask` (`load_beir_task`).

    corpus.jsonl       {"_id": ..., "title": ..., "text": ...}   one document per line
    queries.jsonl      {"_id": ..., "text": ...}                  one query per line
    qrels/<split>.tsv  query-id<TAB>corpus-id<TAB>score           integer grades, a header line

(A first qrels line whose score is not an integer is the header, whatever its column names.)

As BEIR and sentence-transformers do: a document is encoded as `(title + " " + text).strip()`;
the split's queries are the queries its qrels judge; a document whose id equals the query's id is
removed from that query's ranking (BEIR's `ignore_identical_ids`). Grades are the qrels' integers:
nDCG uses them as gains (as trec_eval does), recall and MRR count grade >= 1 as relevant. A
judged query without any grade >= 1 cannot be scored: it is skipped and counted
(`EvalTask.skipped`). Ids may be JSON strings or integers (read as text).

Every error is one line naming the file, the line and the field (`UserError`): bad JSON, a
missing or duplicate `_id`, a missing `text`, a qrels row naming an unknown query or document,
a repeated (query, document) pair, a score that is not an integer, bytes that are not UTF-8, a
missing split file, an empty corpus, no query to score.

`parse_eval_sets("beir:PATH[=DOMAIN],...")` reads the `--eval-set` option; `load_beir_sets`
loads its sets with their query instructions (`eval` and `validate` both call it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa

from reasonembed.data.textio import json_object_lines, nonblank_lines
from reasonembed.errors import UserError
from reasonembed.eval.metrics import Qrels
from reasonembed.eval.task import EvalTask, domain_instruction

logger = logging.getLogger(__name__)

PREFIX = "beir:"


def parse_eval_sets(spec: str) -> list[tuple[Path, str | None]]:
    """[(folder, domain or None)] of `beir:PATH[=DOMAIN],beir:PATH2...`."""
    sets = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        if not item.startswith(PREFIX):
            raise UserError(f"--eval-set {item!r}: expected beir:PATH or beir:PATH=DOMAIN")
        path, _, domain = item[len(PREFIX) :].partition("=")
        if not path:
            raise UserError(f"--eval-set {item!r}: no folder after 'beir:'")
        sets.append((Path(path).expanduser(), domain.strip() or None))
    if not sets:
        raise UserError("--eval-set: no set given (beir:PATH[=DOMAIN],...)")
    return sets


def _require(path: Path) -> Path:
    if not path.is_file():
        raise UserError(f"{path}: not found (a BEIR folder holds {path.name})")
    return path


def _id_of(record: dict, where: str) -> str:
    value = record.get("_id")
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise UserError(f"{where}: field '_id' must be a non-empty string, got {value!r}")
    return str(value)


def _text_of(record: dict, where: str, field: str, required: bool = True) -> str:
    value = record.get(field)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise UserError(f"{where}: field {field!r} must be a string, got {value!r}")
    return value


def read_jsonl(path: Path, title: bool) -> dict[str, str]:
    """{_id: text} of corpus.jsonl (`title` True: title and text joined) or queries.jsonl."""
    records: dict[str, str] = {}
    for number, record in json_object_lines(_require(path)):
        where = f"{path}: line {number}"
        record_id = _id_of(record, where)
        if record_id in records:
            raise UserError(f"{where}: field '_id' {record_id!r} repeats an earlier line")
        text = _text_of(record, where, "text")
        if title:
            text = (_text_of(record, where, "title", required=False) + " " + text).strip()
        records[record_id] = text
    if not records:
        raise UserError(f"{path}: empty; a BEIR set needs at least one record")
    return records


def read_qrels(
    path: Path, queries: dict[str, str], corpus: dict[str, str]
) -> dict[str, dict[str, int]]:
    """{query id: {doc id: grade}} of a qrels file, every id checked against the set."""
    if not path.is_file():
        splits = sorted(file.stem for file in path.parent.glob("*.tsv"))
        raise UserError(
            f"{path}: split file not found (splits here: {', '.join(splits) or 'none'}); "
            "choose one with --split"
        )
    judgements: dict[str, dict[str, int]] = {}
    for number, line in nonblank_lines(path):
        where = f"{path}: line {number}"
        fields = [field.strip() for field in line.rstrip("\r\n").split("\t")]
        if number == 1 and not fields[-1].lstrip("+-").isdigit():
            continue  # the header (BEIR skips the first line, whatever it names its columns)
        if len(fields) != 3:
            raise UserError(
                f"{where}: expected 3 tab-separated fields query-id, corpus-id, score; "
                f"got {len(fields)}"
            )
        query_id, doc_id, score = fields
        if query_id not in queries:
            raise UserError(f"{where}: field 'query-id' {query_id!r} is not in queries.jsonl")
        if doc_id not in corpus:
            raise UserError(f"{where}: field 'corpus-id' {doc_id!r} is not in corpus.jsonl")
        try:
            grade = int(score)
        except ValueError:
            raise UserError(f"{where}: field 'score' {score!r} is not an integer") from None
        judged = judgements.setdefault(query_id, {})
        if doc_id in judged:
            raise UserError(
                f"{where}: (query-id, corpus-id) ({query_id!r}, {doc_id!r}) repeats an earlier line"
            )
        judged[doc_id] = grade
    return judgements


def load_beir_task(folder: str | Path, split: str = "test") -> EvalTask:
    """The BEIR folder's `split` as an `EvalTask` named after the folder."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise UserError(f"{folder}: not a folder (a BEIR set: corpus.jsonl, queries.jsonl, qrels/)")
    corpus = read_jsonl(folder / "corpus.jsonl", title=True)
    queries = read_jsonl(folder / "queries.jsonl", title=False)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    judgements = read_qrels(qrels_path, queries, corpus)
    skipped = {
        q: "no relevant judgement" for q, docs in judgements.items() if max(docs.values()) < 1
    }
    scored = [q for q in judgements if q not in skipped]
    if skipped:
        logger.warning(
            "%s: %d judged queries have no judgement >= 1 and are skipped, e.g. %r",
            qrels_path,
            len(skipped),
            next(iter(skipped)),
        )
    if not scored:
        raise UserError(f"{qrels_path}: no query has a relevant judgement (score >= 1)")
    query_index = [i for i, q in enumerate(scored) for _ in judgements[q]]
    return EvalTask(
        name=folder.resolve().name,
        source=str(folder),
        query_ids=scored,
        queries=[queries[q] for q in scored],
        excluded=[[q] if q in corpus else [] for q in scored],
        qrels=Qrels(
            scored,
            np.asarray(query_index, dtype=np.int64),
            pa.array([d for q in scored for d in judgements[q]], pa.string()),
            np.asarray([g for q in scored for g in judgements[q].values()], dtype=np.int64),
        ),
        doc_ids=list(corpus),
        texts=list(corpus.values()),
        skipped=skipped,
    )


def load_beir_sets(
    spec: str,
    split: str = "test",
    instruction: str | None = None,
    default_domain: str | None = None,
    training_rows: Callable[[], list[dict] | None] = lambda: None,
) -> tuple[list[EvalTask], dict[str, dict]]:
    """The sets of `--eval-set` as tasks with their query instruction, and {name: {path, split,
    domain}}. Instruction: `instruction`, else the training instruction of the set's domain
    (`=DOMAIN`, else `default_domain`; `domain_instruction` over `training_rows()`), else none."""
    tasks: list[EvalTask] = []
    described: dict[str, dict] = {}
    rows: list[dict] | None = None
    for folder, domain in parse_eval_sets(spec):
        task = load_beir_task(folder, split)
        if task.name in described:
            raise UserError(f"--eval-set: two sets are named {task.name!r}; rename a folder")
        domain = domain or default_domain
        if instruction:
            task.instruction = instruction
        elif domain:
            rows = training_rows() if rows is None else rows
            task.instruction = domain_instruction(domain, rows)
        described[task.name] = {"path": str(folder), "split": split, "domain": domain}
        tasks.append(task)
    return tasks, described
