"""`reasonembed eval --eval-set beir:PATH`: BEIR-format sets through the one evaluation core.

- scores equal pytrec_eval's (nDCG@10, recall@100, recip_rank) on graded qrels, from the run the
  command wrote, for BM25 and MiniLM;
- the same content as a BRIGHT-layout task and as a BEIR folder scores the same;
- each bad input stops with one error line naming the file, line and field, no traceback.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
import pytrec_eval

from reasonembed.cli import main
from reasonembed.data.domains import BRIGHT_DOMAINS
from reasonembed.errors import UserError
from reasonembed.eval.beir import load_beir_task
from reasonembed.eval.task import domain_instruction
from tests.eval.beir_fixtures import (
    QUERIES,
    documents,
    graded_qrels,
    write_as_bright,
    write_beir,
    write_graded_set,
)

MEASURES = {"ndcg_cut.10": "ndcg@10", "recall.100": "recall@100", "recip_rank": "mrr"}
INSTRUCTION = "Given a science question, retrieve the passage that answers it"


def read_run(path, prefix: str) -> dict[str, dict[str, float]]:
    """run.trec as pytrec_eval's {query: {doc: score}}, the set's prefix removed."""
    run: dict[str, dict[str, float]] = {}
    for line in path.read_text().splitlines():
        query, _, doc, _, score, _ = line.split(" ")
        run.setdefault(query.removeprefix(prefix), {})[doc] = float(score)
    return run


def evaluate(*args: str) -> int:
    return main(["eval", *args, "--cache-dir", "none"])


@pytest.mark.parametrize(
    "system", [["--bm25"], ["--model", "minilm", "--instruction", INSTRUCTION]]
)
def test_scores_equal_pytrec_eval_on_graded_qrels(system, tmp_path):
    folder = write_graded_set(tmp_path)
    out = tmp_path / "out"
    assert evaluate(*system, "--eval-set", f"beir:{folder}", "--output", str(out)) == 0
    results = json.loads((out / "results.json").read_text())
    ours = json.loads((out / "per_query.json").read_text())["mysci"]
    summary = results["tasks"]["mysci"]
    assert summary["n_queries"] == 6 and summary["n_queries_skipped"] == 1  # q-zero
    assert set(ours) == {q for q in QUERIES if q not in ("q-zero", "q-unjudged")}

    qrels = {q: judged for q, judged in graded_qrels().items() if q != "q-zero"}
    run = read_run(out / "run.trec", "mysci/")
    theirs = pytrec_eval.RelevanceEvaluator(qrels, set(MEASURES)).evaluate(run)
    for query, values in theirs.items():
        for measure, name in MEASURES.items():
            assert ours[query][name] == pytest.approx(
                values[measure.replace(".", "_")], abs=1e-6
            ), (query, name)
    # the grades matter: with binary qrels pytrec_eval gives another nDCG for some query
    binary = {q: {d: int(g >= 1) for d, g in judged.items()} for q, judged in qrels.items()}
    flat = pytrec_eval.RelevanceEvaluator(binary, {"ndcg_cut.10"}).evaluate(run)
    assert any(abs(flat[q]["ndcg_cut_10"] - ours[q]["ndcg@10"]) > 1e-3 for q in ours)
    assert 0 < results["mean"]["ndcg@10"] < 1
    if "--instruction" in system:
        assert summary["instruction"] == INSTRUCTION
        assert results["beir"]["mysci"]["split"] == "test"


def test_same_content_as_bright_and_as_beir_scores_the_same(tmp_path):
    docs = {key: text for key, (_, text) in documents().items()}
    queries = {q: text for q, text in QUERIES.items() if q not in ("q-zero", "q-unjudged")}
    qrels = {q: {d: int(g >= 1) for d, g in judged.items()} for q, judged in graded_qrels().items()}
    qrels = {q: qrels[q] for q in queries}
    gold = {q: [d for d, g in judged.items() if g] for q, judged in qrels.items()}
    bright = write_as_bright(tmp_path / "bright", "biology", docs, queries, gold)
    beir = write_beir(
        tmp_path / "beir", "biology", {k: ("", t) for k, t in docs.items()}, queries, qrels
    )
    for system in (["--bm25"], ["--model", "minilm"]):
        a, b = tmp_path / f"a{len(system)}", tmp_path / f"b{len(system)}"
        assert (
            evaluate(*system, "--tasks", "biology", "--bright", str(bright), "--output", str(a))
            == 0
        )
        assert evaluate(*system, "--eval-set", f"beir:{beir}", "--output", str(b)) == 0
        from_bright = json.loads((a / "per_query.json").read_text())["biology"]
        from_beir = json.loads((b / "per_query.json").read_text())["biology"]
        assert from_bright.keys() == from_beir.keys() == queries.keys()
        for query, values in from_bright.items():
            assert from_beir[query] == pytest.approx(values, abs=1e-9), (system, query)


def append(path, text: str) -> int:
    """Append a line to `path`; its line number."""
    lines = path.read_text(encoding="utf-8").count("\n")
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return lines + 1


def bad_qrels_row(row):
    return lambda folder: ("qrels/test.tsv", append(folder / "qrels" / "test.tsv", row))


def duplicate_id(folder):
    row = json.dumps({"_id": "tides-0", "title": "", "text": "again"})
    return "corpus.jsonl", append(folder / "corpus.jsonl", row)


def not_utf8(folder):
    lines = (folder / "queries.jsonl").read_text().count("\n")
    with open(folder / "queries.jsonl", "ab") as handle:
        handle.write(b'{"_id": "q-x", "text": "caf\xe9"}\n')
    return "queries.jsonl", lines + 1


def empty_corpus(folder):
    (folder / "corpus.jsonl").write_text("\n")
    return "corpus.jsonl", None


def nothing_relevant(folder):
    text = (folder / "qrels" / "test.tsv").read_text()
    (folder / "qrels" / "test.tsv").write_text(
        text.replace("\t2\n", "\t0\n").replace("\t1\n", "\t0\n")
    )
    return "qrels/test.tsv", None


BAD_INPUTS = {
    "unknown query": (bad_qrels_row("q-nope\ttides-0\t1"), ["'query-id'", "'q-nope'"]),
    "unknown document": (bad_qrels_row("q-tides\tnope\t1"), ["'corpus-id'", "'nope'"]),
    "score not an integer": (bad_qrels_row("q-tides\ttides-2\t1.5"), ["'score'", "'1.5'"]),
    "duplicate _id": (duplicate_id, ["'_id'", "'tides-0'", "repeats"]),
    "non-UTF-8 bytes": (not_utf8, ["not valid UTF-8", "byte 0xe9"]),
    "empty corpus": (empty_corpus, ["empty"]),
    "no query to score": (nothing_relevant, ["no query has a relevant judgement"]),
}


def error_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_file_line_and_field(case, tmp_path, caplog):
    folder = write_graded_set(tmp_path)
    damage, fragments = BAD_INPUTS[case]
    file, line = damage(folder)
    caplog.clear()
    assert evaluate("--bm25", "--eval-set", f"beir:{folder}") == 1
    [record] = error_records(caplog)
    message = record.getMessage()
    assert not record.exc_info and "\n" not in message  # no traceback
    assert str(folder / file) in message
    if line is not None:
        assert f"line {line}" in message
    for fragment in fragments:
        assert fragment in message, message


def test_missing_split_names_the_file_and_the_splits_there(tmp_path, caplog):
    folder = write_graded_set(tmp_path)
    assert evaluate("--bm25", "--eval-set", f"beir:{folder}", "--split", "dev") == 1
    [record] = error_records(caplog)
    message = record.getMessage()
    assert str(folder / "qrels" / "dev.tsv") in message and "splits here: test" in message


def test_stderr_holds_one_line_and_no_traceback(tmp_path):
    folder = write_graded_set(tmp_path)
    line = bad_qrels_row("q-tides\ttides-2\thigh")(folder)[1]
    command = [sys.executable, "-m", "reasonembed.cli", "eval", "--bm25"]
    result = subprocess.run(
        [*command, "--eval-set", f"beir:{folder}"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 1
    lines = [text for text in result.stderr.splitlines() if text.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"test.tsv: line {line}: field 'score' 'high' is not an integer" in lines[0]


def test_loader_joins_titles_excludes_identical_ids_and_reads_headerless_qrels(tmp_path):
    docs = {
        "a": ("Tides", "The Moon pulls the sea."),
        "q1": ("", "A copy of the query."),
        "b": ("", "x"),
    }
    folder = write_beir(tmp_path, "small", docs, {"q1": "Why tides?"}, {"q1": {"a": 2, "b": 0}})
    qrels = folder / "qrels" / "test.tsv"
    qrels.write_text("q1\ta\t2\nq1\tb\t0\n")  # no header: the first line is data
    task = load_beir_task(folder)
    assert task.name == "small" and task.texts[0] == "Tides The Moon pulls the sea."
    assert task.texts[1] == "A copy of the query." and task.excluded == [["q1"]]
    assert task.qrels.relevance.tolist() == [2, 0] and task.judged_documents() == {"a"}
    qrels.write_text("qid\tdocid\trel\nq1\ta\t2\n")  # another header naming: still a header
    assert load_beir_task(folder).qrels.relevance.tolist() == [2]


def test_identical_ids_are_left_out_of_the_ranking(tmp_path):
    docs = {"a": ("", "moon sea tides pull"), "q1": ("", "why do tides rise")}
    folder = write_beir(tmp_path, "same", docs, {"q1": "why do tides rise"}, {"q1": {"a": 1}})
    out = tmp_path / "out"
    assert evaluate("--bm25", "--eval-set", f"beir:{folder}", "--output", str(out)) == 0
    # the verbatim copy "q1" would rank first; it is removed, the other document is kept
    assert list(read_run(out / "run.trec", "same/")["q1"]) == ["a"]


def test_domain_instruction_from_rows_else_built_in_else_refused():
    rows = [{"domain": "net", "prompt": "Retrieve RFC passages"}, {"domain": "biology"}]
    assert domain_instruction("net", rows) == "Retrieve RFC passages"
    assert domain_instruction("biology", rows) == BRIGHT_DOMAINS["biology"].retrieval_instruction
    with pytest.raises(UserError, match="'law': no training rows"):
        domain_instruction("law", rows)
    rows.append({"domain": "net", "prompt": "Another prompt"})
    with pytest.raises(UserError, match="2 different prompts"):
        domain_instruction("net", rows)


def test_instruction_overrides_the_domain_and_domain_needs_a_source(tmp_path, caplog):
    folder = write_graded_set(tmp_path)
    out = tmp_path / "out"
    args = ["--bm25", "--eval-set", f"beir:{folder}=biology", "--output", str(out)]
    assert evaluate(*args) == 0
    summary = json.loads((out / "results.json").read_text())["tasks"]["mysci"]
    assert summary["instruction"] == BRIGHT_DOMAINS["biology"].retrieval_instruction
    assert evaluate(*args, "--instruction", "Find it") == 0
    assert (
        json.loads((out / "results.json").read_text())["tasks"]["mysci"]["instruction"] == "Find it"
    )
    assert evaluate("--bm25", "--eval-set", f"beir:{folder}", "--eval-domain", "law") == 1
    assert "'law': no training rows" in error_records(caplog)[-1].getMessage()
    assert evaluate("--bm25", "--eval-set", f"beir:{folder}", "--tasks", "biology") == 1
    assert "apply to BRIGHT only" in error_records(caplog)[-1].getMessage()
