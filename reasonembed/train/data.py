"""Training rows -> domain-homogeneous global batches of (query, reasoning query, passage group).

Contracts:
- `check_rows(rows, loss, group_size)` raises `UserError` naming the file and row before training
  starts: a missing `reasoning_query` under ri-infonce, a row whose group needs negatives but has
  none, or a domain whose rows disagree on `train_group_size`/`batch_size` (a batch is one domain
  with one setting). Returns the per-domain `DomainSettings` (`group_size` overridden when given).
- A domain's `batch_size` is its queries per device in the paper's 8-GPU run; its GLOBAL batch is
  `DomainSettings.global_queries(batch_scale)` = max(1, round(batch_size x batch_scale)) queries,
  whatever the number of processes (batch_scale 8 reproduces the paper: 8 x 8 queries x 16
  passages = 1,024 passages for StackExchange and math, 8 x 64 x 2 for leetcode, 8 x 2 x 64 for
  pony). Each process takes an equal share and may accumulate it in chunks (`step.py`).
- `plan_batches(rows, settings, batch_scale, world_size, seed, epoch)`: the epoch's global
  batches, each a list of row indices from ONE domain, in a seeded order; every rank computes the
  same plan, and the plan does not depend on `world_size` (which is only checked: it must divide
  every planned batch). A domain's trailing partial batch is dropped.
- `build_group(row, group_size, rng)`: 1 positive and group_size - 1 negatives (negatives
  repeated when there are fewer, as FlagEmbedding does).
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from reasonembed.errors import UserError
from reasonembed.retrieval.instructions import DEFAULT_QUERY_TEMPLATE, format_query

logger = logging.getLogger(__name__)

# paper settings (StackExchange and math domains); per-row values win, then overrides
DEFAULT_GROUP_SIZE = 16
DEFAULT_BATCH_SIZE = 8
PAPER_DEVICES = 8  # the paper's global batch: each domain's batch_size on each of 8 GPUs


@dataclass(frozen=True)
class DomainSettings:
    group_size: int  # passages per query: 1 positive + group_size - 1 negatives
    batch_size: int  # queries per device in the paper's setting

    def global_queries(self, batch_scale: float) -> int:
        """Queries in one global batch of this domain: batch_size x batch_scale, at least 1."""
        return max(1, round(self.batch_size * batch_scale))


@dataclass
class Batch:
    """One rank's share of a global batch: texts ready for the encoder."""

    domain: str
    queries: list[str]
    reasoning_queries: list[str] | None
    passages: list[str]  # len(queries) * group_size, query i's positive at i * group_size
    group_size: int


def where(row: dict, index: int | None = None) -> str:
    """`file, row N` of a loaded row; `given rows, row N` (1-based) for rows built in memory."""
    if "source_file" in row:
        return f"{row['source_file']}, row {row.get('source_row', '?')}"
    return f"given rows, row {index + 1 if index is not None else '?'}"


def check_rows(
    rows: Sequence[dict],
    loss: str,
    group_size: int | None = None,
) -> dict[str, DomainSettings]:
    """Validate rows for training; per-domain group and batch sizes (`group_size` wins)."""
    if not rows:
        raise UserError("no training rows")
    settings: dict[str, DomainSettings] = {}
    first_row: dict[str, str] = {}
    for index, row in enumerate(rows):
        domain = row.get("domain") or "default"
        if not row.get("pos"):
            raise UserError(f"{where(row, index)}: field 'pos' has no positive")
        if loss == "ri-infonce" and not row.get("reasoning_query"):
            raise UserError(
                f"{where(row, index)}: field 'reasoning_query' is missing or empty, and --loss ri-infonce "
                "needs it; add it to the data or train with --loss infonce"
            )
        this = DomainSettings(
            group_size=group_size or row.get("train_group_size") or DEFAULT_GROUP_SIZE,
            batch_size=row.get("batch_size") or DEFAULT_BATCH_SIZE,
        )
        if domain not in settings:
            settings[domain], first_row[domain] = this, where(row, index)
        elif settings[domain] != this:
            raise UserError(
                f"{where(row, index)}: domain {domain!r} mixes batch settings (train_group_size "
                f"{this.group_size}, batch_size {this.batch_size}) with those of "
                f"{first_row[domain]} ({settings[domain].group_size}, "
                f"{settings[domain].batch_size}); each batch is drawn from one domain with one "
                "setting: fix the rows (or pass --group-size when only the group sizes differ)"
            )
        if this.group_size > 1 and not row.get("neg"):
            raise UserError(
                f"{where(row, index)}: field 'neg' is empty but train_group_size is {this.group_size}; "
                "add hard negatives or pass --group-size 1 (in-batch negatives only)"
            )
    return settings


def plan_batches(
    rows: Sequence[dict],
    settings: dict[str, DomainSettings],
    batch_scale: float,
    world_size: int,
    seed: int,
    epoch: int,
) -> list[list[int]]:
    """Global batches of row indices for one epoch (see module doc)."""
    rng = random.Random(f"{seed}-plan-{epoch}")
    by_domain: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        by_domain.setdefault(row.get("domain") or "default", []).append(index)
    batches: list[list[int]] = []
    for domain in sorted(by_domain):
        indices = by_domain[domain]
        rng.shuffle(indices)
        size = settings[domain].global_queries(batch_scale)
        full = len(indices) // size
        if full == 0:
            logger.warning(
                "domain %r: %d rows, fewer than one global batch of %d queries: skipped",
                domain,
                len(indices),
                size,
            )
            continue
        if size % world_size:
            raise UserError(
                f"domain {domain!r}: a global batch of {size} queries (batch_size "
                f"{settings[domain].batch_size} x --batch-scale {batch_scale:g}) cannot be split "
                f"evenly over {world_size} processes; choose a --batch-scale or a process count "
                "that divides it"
            )
        batches.extend(indices[i * size : (i + 1) * size] for i in range(full))
    rng.shuffle(batches)
    if not batches:
        fits = max(
            len(indices) / settings[domain].batch_size for domain, indices in by_domain.items()
        )
        raise UserError(
            f"no domain has enough rows for one global batch (batch_size x --batch-scale "
            f"{batch_scale:g} queries); pass a smaller --batch-scale (at most {fits:.3g} fits the "
            "largest domain)"
        )
    return batches


def build_group(row: dict, group_size: int, rng: random.Random) -> list[str]:
    """[positive, negative_1, ..., negative_{G-1}] for one row."""
    group = [rng.choice(row["pos"])]
    wanted = group_size - 1
    if wanted > 0:
        negatives = list(row["neg"])
        if len(negatives) < wanted:
            negatives = negatives * math.ceil(wanted / len(negatives))
        group.extend(rng.sample(negatives, wanted))
    return group


def make_batch(
    rows: Sequence[dict],
    indices: Sequence[int],
    settings: DomainSettings,
    seed: int,
    step: int,
    with_reasoning: bool,
    query_template: str = DEFAULT_QUERY_TEMPLATE,
) -> Batch:
    """Texts of the rows `indices` (one rank's slice of a global batch) for training step `step`.

    Passage sampling is seeded by (seed, step, row index): the same on every run and on resume.
    """
    queries: list[str] = []
    reasoning: list[str] = []
    passages: list[str] = []
    for index in indices:
        row = rows[index]
        rng = random.Random(f"{seed}-group-{step}-{index}")
        prompt = row.get("prompt") or None
        queries.append(format_query(row["query"], prompt, query_template))
        if with_reasoning:
            reasoning.append(format_query(row["reasoning_query"], prompt, query_template))
        passages.extend(build_group(row, settings.group_size, rng))
    return Batch(
        domain=rows[indices[0]].get("domain") or "default",
        queries=queries,
        reasoning_queries=reasoning if with_reasoning else None,
        passages=passages,
        group_size=settings.group_size,
    )
