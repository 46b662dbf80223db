"""Query filters before mining (they save the annotation calls of a query that will be dropped).

A query that copies its source beyond `quality.max_source_copy_*`, or that is a near-duplicate of a
BRIGHT test query (word 13-gram overlap, MinHash Jaccard; `quality.decontaminate`), is rejected
with kind "drop" at stage "query_filter". Every row gets the source-copy and decontamination
columns (reasonembed.quality).
"""

from typing import Any

from distilabel.steps import Step, StepInput
from distilabel.typing import StepOutput
from pydantic import Field, PrivateAttr

from reasonembed.quality import triviality as tv
from reasonembed.quality.decontamination import DECONTAMINATION_COLUMNS
from reasonembed.quality.filters import (
    TrivialityConfig,
    decontaminate_rows,
    make_decontaminator,
    query_drop_reason,
)
from reasonembed.steps.llm_task import is_rejected, reject

COPY_COLUMNS = [
    tv.TRIVIALITY_SOURCE_COPY_CHARS,
    tv.TRIVIALITY_SOURCE_COPY_SHARE,
    tv.TRIVIALITY_SOURCE_NGRAM_OVERLAP,
]


class FilterQueries(Step):
    quality: TrivialityConfig = Field(default_factory=TrivialityConfig)
    bright: str | None = None

    _decontaminator: Any = PrivateAttr(default=None)

    @property
    def inputs(self) -> list[str]:
        return ["query", "source_text"]

    @property
    def outputs(self) -> list[str]:
        return [*COPY_COLUMNS, *DECONTAMINATION_COLUMNS]

    def load(self) -> None:
        super().load()
        if self.bright and self.quality.decontaminate:
            from reasonembed.bright.data import load_bright_queries

            queries, ids = load_bright_queries(self.bright)
            self._decontaminator = make_decontaminator(self.quality, queries, ids)
            self._logger.info("decontamination against %d BRIGHT test queries", len(queries))

    def process(self, inputs: StepInput) -> StepOutput:  # type: ignore[override]
        empty = dict.fromkeys(self.outputs)
        rows = [{**empty, **row} for row in inputs]
        live = [index for index, row in enumerate(rows) if not is_rejected(row)]
        if self._decontaminator is not None and live:
            checked = decontaminate_rows([rows[index] for index in live], self._decontaminator)
            for index, row in zip(live, checked, strict=True):
                rows[index] = row
        for index in live:
            reason = query_drop_reason(rows[index], self.quality)
            if reason is not None:
                rows[index] = reject(rows[index], "query_filter", "drop", reason)
        yield rows
