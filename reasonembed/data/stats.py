"""`stats.json` as a typed contract: what `generate` writes and what the report, the dataset card
and `validate` read (through `RunStats.read(folder)`, never by poking at dict keys).

Counts are whole numbers of items; `*_per_sample` are means; `wall_time_s` is seconds.

    funnel            corpus documents -> seeds -> queries -> mined queries -> annotated queries
                      -> samples; each stage's count and what was dropped, quarantined, deferred
                      or not sampled on the way INTO it, by reason: every stage is exactly the
                      previous one minus those (validated)
    drops             every drop and quarantine, keyed "stage:kind:reason"
    candidates        candidates of the annotated queries (judged + quarantined)
    judgements        candidates that got a relevance score
    quarantined       queries and judgements whose LLM answer failed its parser after re-asks
    decontamination   whether BRIGHT decontamination ran (`performed`), against what
    quality           reasonembed.quality.summary.summarize's section (distributions, drops)
    llm_usage         the LLM usage and cost of every run that produced the folder (a re-run of
                      the same config into it adds its own): sums per stage, role and in total,
                      and `runs`, one entry per run, the last being the run that wrote this file
    deferred, annotation_prompt_layout, llm_usage in detail: see reasonembed.factory.run_state
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from reasonembed.data.records import STATS_FILE
from reasonembed.errors import UserError


def drop_key(entry: dict[str, Any]) -> str:
    """The key of a quarantined row in stats.json's `drops` (and the report page's `reason`
    filter): "stage:kind:reason" with the reason's variable tail (attempts, last answer,
    amounts) cut. `entry`: a quarantine record's stage, kind and reason."""
    reason = (entry["reason"] or "").split(" (")[0]
    if entry["kind"] == "deferred":
        reason = reason.split(": ")[0]
    return f"{entry['stage']}:{entry['kind']}:{reason}"


class FunnelStage(BaseModel):
    stage: str
    count: int = Field(ge=0)
    drops: dict[str, int] = Field(default_factory=dict)  # removed on the way into this stage


class Quarantined(BaseModel):
    queries: int = 0
    judgements: int = 0


class Decontamination(BaseModel):
    performed: bool = False
    bright: str | None = None  # the BRIGHT source the queries and seeds were checked against


class Deferred(BaseModel):
    deferred_rows: int = 0
    deferred_queries: int = 0
    reasons: list[str] = Field(default_factory=list)
    complete: bool = True


class RunStats(BaseModel):
    model_config = ConfigDict(extra="forbid")

    config_hash: str
    factory_version: str
    seeds: dict[str, dict[str, int]] = Field(default_factory=dict)  # domain -> selection counts
    funnel: list[FunnelStage]
    drops: dict[str, int] = Field(default_factory=dict)
    candidate_drops: dict[str, int] = Field(default_factory=dict)
    candidates: int = 0
    judgements: int = 0
    quarantined: Quarantined = Field(default_factory=Quarantined)
    reasks: dict[str, int] = Field(default_factory=dict)
    samples: int = 0
    samples_per_domain: dict[str, int] = Field(default_factory=dict)
    positives_per_sample: float = 0.0
    negatives_per_sample: float = 0.0
    positive_threshold: int = 3
    prompt_hashes: dict[str, str] = Field(default_factory=dict)
    decontamination: Decontamination = Field(default_factory=Decontamination)
    quality: dict[str, Any] = Field(default_factory=dict)
    triviality_config: dict[str, Any] = Field(default_factory=dict)
    llm_usage: dict[str, Any] = Field(default_factory=dict)
    deferred: Deferred = Field(default_factory=Deferred)
    annotation_prompt_layout: dict[str, Any] = Field(default_factory=dict)
    wall_time_s: float = 0.0

    @model_validator(mode="after")
    def _funnel_adds_up(self) -> RunStats:
        for before, after in zip(self.funnel, self.funnel[1:], strict=False):
            if after.count != before.count - sum(after.drops.values()):
                raise ValueError(
                    f"funnel stage {after.stage!r}: {after.count} is not {before.count} minus "
                    f"the drops counted into it ({after.drops})"
                )
        return self

    def stage_count(self, stage: str) -> int:
        return next((entry.count for entry in self.funnel if entry.stage == stage), 0)

    def run_usage(self) -> dict[str, Any]:
        """The `llm_usage` share of the run that wrote this file: the last of `llm_usage.runs`
        (the whole section in a stats.json written before runs were listed)."""
        runs = self.llm_usage.get("runs")
        return runs[-1] if runs else self.llm_usage

    def why_empty(self) -> str:
        """Why no sample was kept: the funnel step that lost the most items, with its reasons."""
        if self.stage_count("seeds") == 0:
            return "the corpora gave no seed"
        # corpus -> seeds is sampling by design (max_seeds), not a loss to explain
        steps = list(zip(self.funnel[1:], self.funnel[2:], strict=False))
        if not steps:
            return "the funnel is empty"
        before, after = max(steps, key=lambda pair: pair[0].count - pair[1].count)
        lost = before.count - after.count
        if lost <= 0:
            return "the corpora gave no seed" if not self.funnel[0].count else "nothing was kept"
        reasons = ", ".join(f"{reason}: {count}" for reason, count in after.drops.items())
        return (
            f"the largest drop is {before.stage} -> {after.stage} ({lost} of {before.count} lost"
            f"{'; ' + reasons if reasons else ''})"
        )

    def write(self, folder: Path) -> Path:
        from reasonembed.data.output import write_json

        path = Path(folder) / STATS_FILE
        write_json(self.model_dump(mode="json"), path)
        return path

    @classmethod
    def read(cls, folder: Path) -> RunStats:
        """The stats of a generate output folder; UserError naming the file when it is missing
        or not in this shape."""
        path = Path(folder) / STATS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise UserError(f"{path}: missing (not a `reasonembed generate` output?)") from error
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise UserError(f"{path}: not valid JSON: {error}") from error
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "(top level)"
            raise UserError(
                f"{path}: not a stats.json of this reasonembed version ({where}: {first['msg']}); "
                "re-run `reasonembed generate`"
            ) from None
