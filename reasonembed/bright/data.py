"""BRIGHT data: tasks, the pinned Hub revision, the file layout, and loading of test queries,
documents and gold ids.

Sources (`bright` argument): "hub" reads `HUB_REPO` (xlangai/BRIGHT) at a pinned revision
(default `DEFAULT_REVISION`, the revision MTEB pins); any other value is a local folder in the
dataset's own layout (`file_name`):

    examples/<task>-00000-of-00001.parquet        id, query, gold_ids, gold_ids_long, excluded_ids, ...
    documents/<task>-00000-of-00001.parquet       id, content
    long_documents/<task>-00000-of-00001.parquet  id, content

Examples keep the dataset's raw lists (with their "N/A" placeholders and repeated gold ids);
`BrightExample.gold(long)` and `.excluded` apply the protocol (deduplicated, "N/A" removed).
Documents are taken as they are, empty texts included: the benchmark scores its whole corpus.

Across tasks: `load_bright_queries` (every test query, ids `{task}/{id}` since ids repeat across
tasks) and `load_bright_gold_ids` (per task; tasks that search one corpus, `SHARED_CORPORA`,
share their gold sets).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from reasonembed.errors import UserError

logger = logging.getLogger(__name__)

HUB_REPO = "xlangai/BRIGHT"
DEFAULT_REVISION = "a75a0eb483f6a5233a6efc2d63d71540a4443dfb"
NOT_AVAILABLE = "N/A"

BRIGHT_TASKS = (
    "biology",
    "earth_science",
    "economics",
    "psychology",
    "robotics",
    "stackoverflow",
    "sustainable_living",
    "leetcode",
    "pony",
    "aops",
    "theoremqa_questions",
    "theoremqa_theorems",
)
# Tasks with long-document gold labels (the others have gold_ids_long == ["N/A"]).
LONG_TASKS = BRIGHT_TASKS[:7] + ("pony",)
# Tasks whose queries search one shared corpus (their gold documents live in the same corpus).
SHARED_CORPORA = {
    "aops": "aops+theoremqa_questions",
    "theoremqa_questions": "aops+theoremqa_questions",
}

# md5 of documents/<task>-00000-of-00001.parquet at DEFAULT_REVISION (aops and
# theoremqa_questions hold the same file: their shared corpus).
DOCUMENTS_MD5 = {
    "biology": "f5634c69200296066adf9816f5e4f729",
    "earth_science": "210a3b5cdc06cfd9ca6728fa97fb8067",
    "economics": "51f017a94fc4bccb68e44c85640a2feb",
    "psychology": "cb0a14e59845efe80fdc1fa92c379605",
    "robotics": "595fb0d3075eaca19298a51bb706a513",
    "stackoverflow": "e1e3b210340e7fb5ec3782b57525a6ee",
    "sustainable_living": "e7f3e97d3314f2afb662c8779b904ce9",
    "leetcode": "eda94d3cb40aa9b1f55030d1631acf72",
    "pony": "f0805cab692e3a4f4b69819b743c0a82",
    "aops": "43d86de9400e68911a7d419de8105c61",
    "theoremqa_questions": "43d86de9400e68911a7d419de8105c61",
    "theoremqa_theorems": "93fb1207b33e0dffb79a7923326c060d",
}


@dataclass
class BrightExample:
    """One test query, fields as in the dataset."""

    id: str
    query: str
    gold_ids: list[str]
    gold_ids_long: list[str]
    excluded_ids: list[str]

    def gold(self, long: bool = False) -> list[str]:
        """Gold doc ids for the protocol: deduplicated (first occurrence order), "N/A" removed."""
        ids = self.gold_ids_long if long else self.gold_ids
        return [doc_id for doc_id in dict.fromkeys(ids) if doc_id and doc_id != NOT_AVAILABLE]

    @property
    def excluded(self) -> list[str]:
        """Doc ids to remove from this query's ranking ("N/A" skipped, deduplicated)."""
        return [d for d in dict.fromkeys(self.excluded_ids) if d and d != NOT_AVAILABLE]


@dataclass
class BrightDocuments:
    """A task's corpus: parallel lists of ids and texts, with where it came from."""

    task: str
    doc_ids: list[str]
    texts: list[str]
    path: str
    md5_matches: bool | None  # vs DOCUMENTS_MD5 (None: no reference for this file)

    def __len__(self) -> int:
        return len(self.doc_ids)


def parse_tasks(spec: str | None) -> list[str]:
    """ "all" (or None) -> the 12 tasks; otherwise comma-separated names, validated."""
    if spec is None or spec.strip() in ("", "all"):
        return list(BRIGHT_TASKS)
    tasks = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in tasks if name not in BRIGHT_TASKS]
    if unknown:
        raise UserError(
            f"--tasks: unknown BRIGHT task(s) {', '.join(unknown)}; choose from "
            f"{', '.join(BRIGHT_TASKS)} or 'all'"
        )
    return list(dict.fromkeys(tasks))


def file_name(config: str, task: str) -> str:
    """`{config}/{task}-00000-of-00001.parquet`: where a task's file sits in the dataset."""
    return f"{config}/{task}-00000-of-00001.parquet"


def task_file(bright: str, config: str, task: str, revision: str = DEFAULT_REVISION) -> Path:
    """Local path of `file_name(config, task)`, downloaded first when bright="hub"."""
    name = file_name(config, task)
    if bright == "hub":
        from huggingface_hub import hf_hub_download

        try:
            return Path(hf_hub_download(HUB_REPO, name, repo_type="dataset", revision=revision))
        except Exception as error:  # network, missing revision, offline mode
            raise UserError(
                f"cannot fetch {name} from the Hub dataset {HUB_REPO}@{revision}: {error}. "
                "Pass --bright PATH with a local copy in the same layout."
            ) from error
    path = Path(bright).expanduser() / name
    if not path.is_file():
        raise UserError(
            f"{path}: not found. --bright PATH must hold the dataset's layout "
            f"({file_name(config, '<task>')})"
        )
    return path


def _string_list(value, where: str, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise UserError(f"{where}: field {field!r} must be a list of strings, got {value!r}")
    return value


def load_examples(
    task: str, bright: str = "hub", revision: str = DEFAULT_REVISION
) -> list[BrightExample]:
    """The test queries of `task` (raw lists kept; see `BrightExample.gold` / `.excluded`)."""
    path = task_file(bright, "examples", task, revision)
    table = pq.read_table(path)
    missing = {"id", "query", "gold_ids", "excluded_ids"} - set(table.column_names)
    if missing:
        raise UserError(f"{path}: missing column(s) {sorted(missing)} of the BRIGHT examples")
    examples = []
    seen: set[str] = set()
    for row_number, row in enumerate(table.to_pylist(), start=1):
        where = f"{path}: row {row_number}"
        query_id = str(row["id"])
        if query_id in seen:
            raise UserError(f"{where}: query id {query_id!r} repeats")
        seen.add(query_id)
        if not isinstance(row["query"], str):
            raise UserError(f"{where}: field 'query' must be text")
        examples.append(
            BrightExample(
                id=query_id,
                query=row["query"],
                gold_ids=_string_list(row["gold_ids"], where, "gold_ids"),
                gold_ids_long=_string_list(row.get("gold_ids_long"), where, "gold_ids_long"),
                excluded_ids=_string_list(row["excluded_ids"], where, "excluded_ids"),
            )
        )
    return examples


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_documents(
    task: str, bright: str = "hub", revision: str = DEFAULT_REVISION, long: bool = False
) -> BrightDocuments:
    """The corpus of `task` (`long_documents` when `long`). Verifies the md5 of short-document
    files read at the default revision and warns when a local copy differs from it."""
    config = "long_documents" if long else "documents"
    path = task_file(bright, config, task, revision)
    table = pq.read_table(path, columns=["id", "content"])
    doc_ids = [str(doc_id) for doc_id in table.column("id").to_pylist()]
    texts = [text or "" for text in table.column("content").to_pylist()]
    if len(set(doc_ids)) != len(doc_ids):
        raise UserError(f"{path}: document ids repeat; the BRIGHT layout needs unique ids")
    md5_matches = None
    if not long and revision == DEFAULT_REVISION:
        md5_matches = file_md5(path) == DOCUMENTS_MD5[task]
        if not md5_matches:
            logger.warning(
                "%s: md5 differs from BRIGHT %s@%s: scores on this copy are not comparable "
                "with published BRIGHT numbers",
                path,
                HUB_REPO,
                DEFAULT_REVISION[:12],
            )
    logger.info("%s: %d documents from %s", task, len(doc_ids), path)
    return BrightDocuments(task, doc_ids, texts, str(path), md5_matches)


def check_long_task(task: str) -> None:
    if task not in LONG_TASKS:
        raise UserError(
            f"task {task!r} has no long-document labels (gold_ids_long is N/A); "
            f"--long supports {', '.join(LONG_TASKS)}"
        )


def _task_examples(
    bright: str, revision: str, tasks: Sequence[str] | None
) -> Iterator[tuple[str, BrightExample]]:
    """(task, example) pairs of `tasks` (default: all 12), task by task."""
    for task in tasks or BRIGHT_TASKS:
        for example in load_examples(task, bright, revision):
            yield task, example


def load_bright_queries(
    bright: str = "hub", revision: str = DEFAULT_REVISION, tasks: Sequence[str] | None = None
) -> tuple[list[str], list[str]]:
    """(queries, ids) of BRIGHT's test queries; ids are `{task}/{example id}`."""
    queries: list[str] = []
    ids: list[str] = []
    for task, example in _task_examples(bright, revision, tasks):
        queries.append(example.query)
        ids.append(f"{task}/{example.id}")
    return queries, ids


def load_bright_gold_ids(
    bright: str = "hub",
    revision: str = DEFAULT_REVISION,
    tasks: Sequence[str] | None = None,
    include_excluded: bool = False,
) -> dict[str, set[str]]:
    """Task -> the doc ids that are gold for some BRIGHT test query of its corpus.

    Tasks sharing a corpus (`SHARED_CORPORA`) get the union of their gold ids.
    include_excluded: add the queries' excluded ids too (the ids a seed must never have).
    "N/A" is skipped.
    """
    by_corpus: dict[str, set[str]] = {}
    seen_tasks: set[str] = set()
    for task, example in _task_examples(bright, revision, tasks):
        seen_tasks.add(task)
        ids = set(example.gold())
        if include_excluded:
            ids.update(example.excluded)
        by_corpus.setdefault(SHARED_CORPORA.get(task, task), set()).update(ids)
    return {task: by_corpus.get(SHARED_CORPORA.get(task, task), set()) for task in seen_tasks}
