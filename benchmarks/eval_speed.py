"""Evaluator speed: scoring vs pytrec_eval, and the time split of a dense evaluation.

1. Scoring a 1,384-query x 1,000-document run (the real BRIGHT queries and gold ids from
   ../shared/bright when present, else synthetic ones) with this project's metrics and with
   pytrec_eval, on the same run, in this process: from memory (each tool's native input) and
   from a TREC run file. Two runs: float32-like scores (few ties) and scores with many ties.
2. A dense evaluation (`reasonembed eval --model minilm`) on a BRIGHT-layout folder built from
   the real BRIGHT examples' texts (queries of one task; documents: every query, reasoning and
   gold answer text, --docs of them): seconds spent encoding, searching and scoring.

Usage: .venv/bin/python benchmarks/eval_speed.py [--repeat 3] [--docs 4000] [--task biology]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytrec_eval

from reasonembed.bright.data import BRIGHT_TASKS, file_name
from reasonembed.cli import main as cli_main
from reasonembed.eval.metrics import Qrels, evaluate
from reasonembed.eval.runs import Run, read_trec_run, write_trec_run

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "bright"


def load_qrels() -> dict[str, dict[str, int]]:
    """{task/id: {gold doc: 1}} for the 1,384 BRIGHT queries (synthetic if absent)."""
    qrels: dict[str, dict[str, int]] = {}
    if (SHARED / "examples").is_dir():
        for task in BRIGHT_TASKS:
            table = pq.read_table(SHARED / file_name("examples", task))
            for row in table.select(["id", "gold_ids"]).to_pylist():
                qrels[f"{task}/{row['id']}"] = dict.fromkeys(row["gold_ids"], 1)
        return qrels
    rng = np.random.default_rng(1)
    for q in range(1384):
        qrels[f"q/{q}"] = {f"doc/{d}.txt": 1 for d in rng.integers(0, 50_000, 5)}
    return qrels


def make_run(qrels: dict, ties: bool, seed: int = 0) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    run = {}
    for query_id, gold in qrels.items():
        docs = list(gold)[:20] + [f"corpus/doc {i}_0.txt" for i in rng.choice(400_000, 1000)]
        docs = list(dict.fromkeys(docs))[:1000]
        scores = rng.integers(0, 20, len(docs)) / 4 if ties else rng.random(len(docs))
        run[query_id] = dict(zip(docs, np.float32(scores).astype(float).tolist(), strict=True))
    return run


def parse_run_with_spaces(path: Path) -> dict[str, dict[str, float]]:
    """pytrec_eval.parse_run, but keeping doc ids with spaces (BRIGHT has them; parse_run fails)."""
    run: dict[str, dict[str, float]] = {}
    with open(path) as handle:
        for line in handle:
            query_id, _, rest = line.split(None, 2)
            doc_id, _, score, _ = rest.rsplit(None, 3)
            run.setdefault(query_id, {})[doc_id] = float(score)
    return run


def best_of(repeat: int, fn) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def scoring_benchmark(repeat: int) -> None:
    qrels = load_qrels()
    measures = {"ndcg_cut_10", "recall_10", "recall_100", "recip_rank"}
    print(f"1. scoring {len(qrels)} queries x 1,000 documents (best of {repeat}, seconds)")
    rows = [("run", "input", "reasonembed", "pytrec_eval", "ratio")]
    for ties in (False, True):
        run_dict = make_run(qrels, ties)
        run = Run.from_dict(run_dict)
        ours_qrels = Qrels.from_dict(qrels)
        evaluator = pytrec_eval.RelevanceEvaluator(qrels, measures)
        # Same numbers first.
        ref = evaluator.evaluate(run_dict)
        mine = evaluate(run, ours_qrels, depth=None).per_query()
        worst = max(abs(ref[q]["ndcg_cut_10"] - mine[q]["ndcg@10"]) for q in ref)
        assert worst < 1e-12, worst
        label = "many ties" if ties else "few ties"
        ours_t = best_of(repeat, lambda: evaluate(run, ours_qrels))  # noqa: B023
        theirs_t = best_of(repeat, lambda: evaluator.evaluate(run_dict))  # noqa: B023
        rows.append(
            (label, "memory", f"{ours_t:.3f}", f"{theirs_t:.3f}", f"{ours_t / theirs_t:.2f}")
        )
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "run.trec"
            write_trec_run(run, path)

            def ours_file(path=path, qrels=ours_qrels):
                evaluate(read_trec_run(path), qrels)

            def theirs_file(path=path, evaluator=evaluator):
                evaluator.evaluate(parse_run_with_spaces(path))

            ours_t = best_of(repeat, ours_file)
            theirs_t = best_of(repeat, theirs_file)
        rows.append(
            (label, "TREC file", f"{ours_t:.3f}", f"{theirs_t:.3f}", f"{ours_t / theirs_t:.2f}")
        )
    print_table(rows)


def write_corpus(root: Path, task: str, n_docs: int) -> int:
    """A BRIGHT-layout folder: `task`'s real examples, documents from every example's texts."""
    texts: dict[str, str] = {}
    for name in BRIGHT_TASKS:
        table = pq.read_table(SHARED / file_name("examples", name))
        for row in table.to_pylist():
            for field in ("query", "reasoning", "gold_answer"):
                if row[field] and len(texts) < n_docs:
                    texts[f"{name}/{row['id']}/{field}.txt"] = row[field]
    (root / "examples").mkdir(parents=True)
    (root / "documents").mkdir()
    source = SHARED / file_name("examples", task)
    pq.write_table(pq.read_table(source), root / "examples" / source.name)
    table = pa.table({"id": list(texts), "content": list(texts.values())})
    pq.write_table(table, root / "documents" / source.name)
    return len(texts)


def dense_benchmark(task: str, n_docs: int) -> None:
    if not (SHARED / "examples").is_dir():
        print("\n2. dense split skipped: ../shared/bright is absent")
        return
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        count = write_corpus(root / "bright", task, n_docs)
        out = root / "out"
        cli_main(["eval", "--model", "minilm", "--tasks", task, "--bright", str(root / "bright"),
                  "--output", str(out), "--cache-dir", "none"])  # fmt: skip
        timings = json.loads((out / "results.json").read_text())["tasks"][task]["timings_s"]
    total = sum(timings.values())
    encode = timings["encode_documents"] + timings["encode_queries"]
    print(f"\n2. dense evaluation split (MiniLM, CPU, {task} queries, {count} documents)")
    rows = [("stage", "seconds", "share")]
    for name, seconds in timings.items():
        rows.append((name, f"{seconds:.3f}", f"{100 * seconds / total:.1f}%"))
    rows.append(
        ("all but encoding", f"{total - encode:.3f}", f"{100 * (total - encode) / total:.1f}%")
    )
    print_table(rows)


def print_table(rows) -> None:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    for number, row in enumerate(rows):
        print("  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                        for i, (c, w) in enumerate(zip(row, widths, strict=True))))  # fmt: skip
        if number == 0:
            print("  ".join("-" * w for w in widths))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--task", default="biology")
    args = parser.parse_args()
    scoring_benchmark(args.repeat)
    dense_benchmark(args.task, args.docs)
