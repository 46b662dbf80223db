"""One evaluation set in memory (`EvalTask`): what search, scoring and the contamination guard
read, whatever folder it came from.

Two loaders build it: `bright_task` (a BRIGHT task: binary qrels from the deduplicated gold ids,
each query's excluded ids) and `reasonembed.eval.beir.load_beir_task` (a BEIR folder: graded
qrels, no excluded ids). Queries and documents are parallel lists; `excluded[i]` holds the doc
ids removed from query i's ranking; `qrels` holds every scored query (a query without relevant
judgements scores 0). `skipped` lists the query ids a loader left out and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from reasonembed.bright import data
from reasonembed.errors import UserError
from reasonembed.eval.metrics import Qrels, task_qrels


@dataclass
class EvalTask:
    name: str  # the report's name: the BRIGHT task, or the BEIR folder's name
    source: str  # where the documents were read
    query_ids: list[str]
    queries: list[str]
    excluded: list[list[str]]  # per query: doc ids removed from its ranking
    qrels: Qrels
    doc_ids: list[str]
    texts: list[str]
    md5_matches: bool | None = None  # BRIGHT: the documents file vs the pinned md5
    bright_task: str | None = None  # the BRIGHT task (its official instructions); None for BEIR
    long: bool = False
    instruction: str | None = None  # BEIR: the query instruction of the domain it is mapped to
    skipped: dict[str, str] = field(default_factory=dict)  # query id -> why it is not scored

    def __len__(self) -> int:
        return len(self.doc_ids)

    def judged_documents(self) -> set[str]:
        """Doc ids judged relevant (grade >= 1) for some query."""
        relevant = self.qrels.relevance >= 1
        return set(self.qrels.doc_ids.filter(relevant).to_pylist())


def bright_task(
    task: str, bright: str = "hub", revision: str = data.DEFAULT_REVISION, long: bool = False
) -> EvalTask:
    """A BRIGHT task (`reasonembed.bright.data`) as an `EvalTask`."""
    examples = data.load_examples(task, bright, revision)
    documents = data.load_documents(task, bright, revision, long=long)
    return EvalTask(
        name=task,
        source=documents.path,
        query_ids=[example.id for example in examples],
        queries=[example.query for example in examples],
        excluded=[example.excluded for example in examples],
        qrels=task_qrels(examples, long),
        doc_ids=documents.doc_ids,
        texts=documents.texts,
        md5_matches=documents.md5_matches,
        bright_task=task,
        long=long,
    )


def domain_instruction(domain: str, rows: list[dict] | None = None) -> str:
    """The training instruction of `domain`: the `prompt` its training rows carry (the
    instruction a model trained on them saw), else a built-in domain's retrieval instruction."""
    prompts = {row.get("prompt") for row in rows or [] if row.get("domain") == domain}
    prompts.discard(None)
    prompts.discard("")
    if len(prompts) == 1:
        return prompts.pop()
    if len(prompts) > 1:
        raise UserError(
            f"domain {domain!r}: its training rows carry {len(prompts)} different prompts; "
            "pass --instruction TEXT"
        )
    from reasonembed.data.domains import BRIGHT_DOMAINS

    if domain in BRIGHT_DOMAINS:
        return BRIGHT_DOMAINS[domain].retrieval_instruction
    raise UserError(
        f"domain {domain!r}: no training rows of this domain and not a built-in domain; pass "
        "the training data (--train-data) or the instruction itself (--instruction TEXT)"
    )
