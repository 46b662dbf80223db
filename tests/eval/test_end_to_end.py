"""`reasonembed eval` / `eval-run` on a small BRIGHT-layout fixture, MiniLM and BM25.

Hand-computed expectations (see tests/eval/fixtures.py):
BM25, biology
  q0: both gold at ranks 1, 2; the repeated gold id counts once, so nDCG@10 = 1
      (counting it twice would give 1.6309 / 2.1309 = 0.765).
  q1: the excluded verbatim copy would be first; removed, the gold is rank 1: nDCG 1.
  q2: only "bio/mitochondria.txt" shares words with the query; the gold "bio/dna.txt" ties at 0
      with 6 others. trec_eval order (doc id descending) puts it 7th: nDCG = 1/log2(8) = 1/3,
      MRR = 1/7, recall@10 = 1.
  mean nDCG@10 = (1 + 1 + 1/3) / 3 = 0.777778
BM25, leetcode
  q0: the excluded copy removed, gold rank 1: 1.0.
  q1: gold rank 1, the second gold is not in the corpus: 1 / (1 + 1/log2 3) = 0.613147,
      recall@10 = 0.5.
  mean nDCG@10 = 0.806574; two-task mean = 0.792176.
"""

import json
import math

import pytest

from reasonembed.cli import main
from tests.eval.fixtures import write_bright_fixture

Q1_LEET = 1 / (1 + 1 / math.log2(3))


@pytest.fixture(scope="module")
def bright(tmp_path_factory):
    return write_bright_fixture(tmp_path_factory.mktemp("bright"))


def results_of(folder):
    return json.loads((folder / "results.json").read_text())


def per_query_of(folder):
    return json.loads((folder / "per_query.json").read_text())


def test_bm25_matches_hand_computed_values(bright, tmp_path, capsys):
    out = tmp_path / "bm25"
    code = main(
        [
            "eval",
            "--bm25",
            "--tasks",
            "biology,leetcode",
            "--bright",
            str(bright),
            "--output",
            str(out),
        ]
    )
    assert code == 0
    results, per_query = results_of(out), per_query_of(out)
    bio, leet = per_query["biology"], per_query["leetcode"]
    assert bio["0"]["ndcg@10"] == pytest.approx(1.0)
    assert bio["1"]["ndcg@10"] == pytest.approx(1.0)
    assert bio["2"]["ndcg@10"] == pytest.approx(1 / 3)
    assert bio["2"]["mrr"] == pytest.approx(1 / 7)
    assert bio["2"]["recall@10"] == 1.0
    assert leet["0"]["ndcg@10"] == pytest.approx(1.0)
    assert leet["1"]["ndcg@10"] == pytest.approx(Q1_LEET)
    assert leet["1"]["recall@10"] == 0.5
    assert results["tasks"]["biology"]["ndcg@10"] == pytest.approx(7 / 9, abs=1e-6)
    assert results["tasks"]["leetcode"]["ndcg@10"] == pytest.approx((1 + Q1_LEET) / 2, abs=1e-6)
    assert results["mean"]["ndcg@10"] == pytest.approx((7 / 9 + (1 + Q1_LEET) / 2) / 2, abs=1e-6)
    assert results["complete"] is False
    assert results["tasks"]["biology"]["documents_md5_matches"] is False
    run_text = (out / "run.trec").read_text()
    assert "biology/1 Q0 bio/moth copy.txt" not in run_text
    assert "leetcode/1 Q0 leetcode/graph.txt" not in run_text
    assert "biology/0 Q0 bio/photo synthesis 0.txt 1 " in run_text
    screen = capsys.readouterr().out
    assert "mean (subset)" in screen and "77.78" in screen
    assert "| biology |" in (out / "results.md").read_text()


def test_eval_run_rescores_the_written_run_identically(bright, tmp_path):
    first = tmp_path / "first"
    assert (
        main(
            [
                "eval",
                "--bm25",
                "--tasks",
                "biology,leetcode",
                "--bright",
                str(bright),
                "--output",
                str(first),
            ]
        )
        == 0
    )
    again = tmp_path / "again"
    assert (
        main(
            [
                "eval-run",
                str(first / "run.trec"),
                "--tasks",
                "biology,leetcode",
                "--bright",
                str(bright),
                "--output",
                str(again),
            ]
        )
        == 0
    )
    assert per_query_of(again) == per_query_of(first)
    # A one-task file with bare ids, and a folder of per-task files.
    lines = (first / "run.trec").read_text().splitlines()
    bare = tmp_path / "leetcode.trec"
    bare.write_text(
        "".join(line.split("/", 1)[1] + "\n" for line in lines if line.startswith("leetcode/"))
    )
    single = tmp_path / "single"
    assert (
        main(
            [
                "eval-run",
                str(bare),
                "--tasks",
                "leetcode",
                "--bright",
                str(bright),
                "--output",
                str(single),
            ]
        )
        == 0
    )
    assert per_query_of(single)["leetcode"] == per_query_of(first)["leetcode"]
    # Bare ids cannot hold several tasks.
    assert (
        main(["eval-run", str(bare), "--tasks", "biology,leetcode", "--bright", str(bright)]) == 1
    )


def test_minilm_end_to_end(bright, tmp_path):
    out = tmp_path / "minilm"
    code = main(
        [
            "eval",
            "--model",
            "minilm",
            "--tasks",
            "biology,leetcode",
            "--bright",
            str(bright),
            "--output",
            str(out),
            "--cache-dir",
            str(tmp_path / "cache"),
        ]
    )
    assert code == 0
    results, per_query = results_of(out), per_query_of(out)
    bio, leet = per_query["biology"], per_query["leetcode"]
    # Paraphrased gold documents rank first; excluded verbatim copies are gone.
    assert bio["0"]["ndcg@10"] == pytest.approx(1.0)
    assert bio["1"]["ndcg@10"] == pytest.approx(1.0)
    assert leet["0"]["ndcg@10"] == pytest.approx(1.0)
    assert leet["1"]["ndcg@10"] == pytest.approx(Q1_LEET)
    # The ATP query's gold (a DNA passage) is not its nearest neighbour.
    assert bio["2"]["ndcg@10"] < 1.0 and bio["2"]["recall@10"] == 1.0
    assert results["instruction_family"] == "none"
    assert set(results["tasks"]["biology"]["timings_s"]) >= {"encode_documents", "search", "score"}
    # The embedding cache now holds every document: a second run encodes nothing new.
    again = tmp_path / "again"
    assert (
        main(
            [
                "eval",
                "--model",
                "minilm",
                "--tasks",
                "biology,leetcode",
                "--bright",
                str(bright),
                "--output",
                str(again),
                "--cache-dir",
                str(tmp_path / "cache"),
            ]
        )
        == 0
    )
    assert per_query_of(again) == per_query
    assert any((tmp_path / "cache").rglob("shard-*.npz"))


def test_dtype_option_loads_the_weights_in_it_and_caches_per_dtype(bright, tmp_path):
    """--dtype bfloat16 (what an 8B model needs on a GPU: half float32's memory) on CPU: the
    dtype is recorded, its embeddings are cached apart from float32's, and the easy queries of
    the fixture still rank their gold first."""
    cache = tmp_path / "cache"

    def run(dtype: str):
        out = tmp_path / dtype
        args = ["eval", "--model", "minilm", "--tasks", "biology,leetcode"]
        args += ["--bright", str(bright), "--output", str(out), "--cache-dir", str(cache)]
        assert main([*args, "--dtype", dtype]) == 0
        return results_of(out), per_query_of(out)

    full, full_per_query = run("float32")
    half, half_per_query = run("bfloat16")
    assert (full["dtype"], half["dtype"]) == ("float32", "bfloat16")
    assert len({path.parent for path in cache.rglob("shard-*.npz")}) == 2  # one entry per dtype
    for task, query in (("biology", "0"), ("biology", "1"), ("leetcode", "0")):
        assert half_per_query[task][query]["ndcg@10"] == pytest.approx(1.0)
    assert half["mean"]["ndcg@10"] == pytest.approx(full["mean"]["ndcg@10"], abs=0.05)
    with pytest.raises(SystemExit):
        main(["eval", "--model", "minilm", "--dtype", "half", "--bright", str(bright)])


def test_long_mode_uses_gold_ids_long_and_rejects_tasks_without_them(bright, tmp_path):
    out = tmp_path / "long"
    assert (
        main(
            [
                "eval",
                "--bm25",
                "--long",
                "--tasks",
                "biology",
                "--bright",
                str(bright),
                "--output",
                str(out),
            ]
        )
        == 0
    )
    results = results_of(out)
    assert results["long"] is True
    assert results["tasks"]["biology"]["documents"] == 3
    assert main(["eval", "--bm25", "--long", "--tasks", "leetcode", "--bright", str(bright)]) == 1


def test_contamination_guard_and_strict(bright, tmp_path, capsys):
    train = tmp_path / "train.jsonl"
    rows = [
        {"query": "Why are moths attracted to light at night?", "pos": ["unrelated"], "neg": []},
        {
            "query": "An original question about soil",
            "pos": [
                "Binary search halves a sorted array to find a target value in logarithmic time."
            ],
            "neg": [],
        },
    ]
    train.write_text("".join(json.dumps(row) + "\n" for row in rows))
    args = [
        "eval",
        "--bm25",
        "--tasks",
        "biology,leetcode",
        "--bright",
        str(bright),
        "--train-data",
        str(train),
    ]
    assert main([*args, "--strict"]) == 3
    screen = capsys.readouterr().out
    assert "contamination FOUND" in screen
    out = tmp_path / "report"
    assert main([*args, "--output", str(out)]) == 0
    report = {entry["task"]: entry for entry in results_of(out)["contamination"]}
    assert report["biology"]["test_queries_matched"] == 1
    assert report["biology"]["gold_documents_in_training"] == 0
    assert report["leetcode"]["gold_documents_in_training"] == 1
    assert report["leetcode"]["test_queries_matched"] == 0
    # eval-run reads the documents too: the copied gold text is found from a run file alone
    only_doc = tmp_path / "only_doc.jsonl"
    only_doc.write_text(json.dumps({**rows[1], "query": "Soil pH and nutrients"}) + "\n")
    run_args = ["eval-run", str(out / "run.trec"), "--tasks", "leetcode", "--bright", str(bright)]
    assert main([*run_args, "--train-data", str(only_doc), "--strict"]) == 3
    assert main([*run_args, "--train-data", str(only_doc), "--output", str(out)]) == 0
    assert results_of(out)["contamination"][0]["gold_documents_in_training"] == 1
    clean = tmp_path / "clean.jsonl"
    clean.write_text(json.dumps({"query": "Soil pH and nutrients", "pos": ["x"], "neg": []}) + "\n")
    assert main([*args[:-1], str(clean), "--strict"]) == 0


def test_bad_inputs_are_reported(bright, tmp_path):
    assert main(["eval", "--bm25", "--tasks", "biologgy", "--bright", str(bright)]) == 1
    assert main(["eval", "--bm25", "--tasks", "pony", "--bright", str(bright)]) == 1
    assert main(["eval", "--tasks", "biology", "--bright", str(bright)]) == 1
