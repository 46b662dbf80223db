"""BRIGHT facts (reasonembed.bright): instructions tied to the domains, loaders across tasks."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from reasonembed.bright.data import (
    BRIGHT_TASKS,
    DEFAULT_REVISION,
    DOCUMENTS_MD5,
    HUB_REPO,
    LONG_TASKS,
    SHARED_CORPORA,
    file_name,
    load_bright_gold_ids,
    load_bright_queries,
)
from reasonembed.data.domains import BRIGHT_DOMAINS
from reasonembed.eval.instructions import instructions_for
from reasonembed.retrieval.instructions import format_query
from tests.eval.fixtures import write_bright_fixture
from tests.support.bright import SHARED_BRIGHT, needs_bright


@pytest.mark.parametrize("task", BRIGHT_TASKS)
def test_each_bright_domain_trains_with_its_evaluation_instruction(task):
    """ReasonEmbed trains each BRIGHT domain with the instruction FlagEmbedding evaluates it
    with (the paper's authors evaluate in the `Instruct: {prompt}\\nQuery: {query}` format), so
    a query reads the same in training and in "flagembedding" evaluation."""
    query = "Why do moths fly toward lamps?"
    domain = BRIGHT_DOMAINS[task]
    evaluation = instructions_for(task, "flagembedding")
    assert evaluation.query(query) == format_query(query, domain.retrieval_instruction)
    assert evaluation.query_prefix == f"Instruct: {domain.retrieval_instruction}\nQuery: "


def test_training_instructions_keep_the_published_wording():
    """A change here changes the `prompt` of every BRIGHT-domain dataset the configs build."""
    assert BRIGHT_DOMAINS["pony"].retrieval_instruction == (
        "Given a Pony question, retrieve relevant passages that help answer the question."
    )
    assert BRIGHT_DOMAINS["theoremqa_questions"].retrieval_instruction == (
        "Given a Math problem, retrieve relevant examples that help answer the problem."
    )


def test_the_tables_agree():
    assert tuple(BRIGHT_DOMAINS) == BRIGHT_TASKS
    assert set(DOCUMENTS_MD5) == set(BRIGHT_TASKS)
    assert set(LONG_TASKS) < set(BRIGHT_TASKS) and set(SHARED_CORPORA) < set(BRIGHT_TASKS)
    # tasks search the same corpus exactly when their documents file is the same
    for first in BRIGHT_TASKS:
        for second in BRIGHT_TASKS:
            same_corpus = SHARED_CORPORA.get(first, first) == SHARED_CORPORA.get(second, second)
            assert same_corpus == (DOCUMENTS_MD5[first] == DOCUMENTS_MD5[second])
    assert file_name("documents", "pony") == "documents/pony-00000-of-00001.parquet"


def test_the_paper_config_comment_states_the_pinned_source():
    """pipelines/configs/bright-paper.yaml's header tells users where BRIGHT is read from."""
    config = Path(__file__).resolve().parents[1] / "pipelines" / "configs" / "bright-paper.yaml"
    lines = config.read_text().splitlines()
    header = " ".join(itertools.takewhile(lambda line: line.startswith("#"), lines))
    assert HUB_REPO in header
    assert re.findall(r"\b[0-9a-f]{40}\b", header) == [DEFAULT_REVISION]
    for config_name in ("documents", "examples"):
        assert file_name(config_name, "<task>") in header


def test_queries_and_gold_ids_across_tasks(tmp_path):
    bright = str(write_bright_fixture(tmp_path))
    queries, ids = load_bright_queries(bright, tasks=["biology", "leetcode"])
    assert ids == ["biology/0", "biology/1", "biology/2", "leetcode/0", "leetcode/1"]
    assert queries[1] == "Why are moths attracted to light at night?"
    gold = load_bright_gold_ids(bright, tasks=["leetcode"])
    assert gold == {
        "leetcode": {"leetcode/two_sum.txt", "leetcode/binary_search.txt", "leetcode/missing.txt"}
    }
    with_excluded = load_bright_gold_ids(bright, tasks=["biology"], include_excluded=True)
    assert "N/A" not in with_excluded["biology"] and "bio/moth copy.txt" in with_excluded["biology"]


@needs_bright
@pytest.mark.bright
def test_bright_gold_ids_share_the_aops_theoremqa_corpus_and_skip_na():
    gold = load_bright_gold_ids(
        bright=str(SHARED_BRIGHT), tasks=["aops", "theoremqa_questions", "biology"]
    )
    assert (
        gold["aops"] is gold["theoremqa_questions"] or gold["aops"] == gold["theoremqa_questions"]
    )
    assert "N/A" not in gold["biology"] and len(gold["biology"]) > 100
    with_excluded = load_bright_gold_ids(
        bright=str(SHARED_BRIGHT), tasks=["stackoverflow"], include_excluded=True
    )
    assert "N/A" not in with_excluded["stackoverflow"]
    assert (
        with_excluded["stackoverflow"]
        >= load_bright_gold_ids(bright=str(SHARED_BRIGHT), tasks=["stackoverflow"])["stackoverflow"]
    )
