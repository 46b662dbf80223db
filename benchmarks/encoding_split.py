"""Corpus encoding split between replicas that share one embedding cache (shard claims).

A synthetic corpus of short texts (random words over the vocabulary of Python's docstrings, as in
`benchmarks/mining.py`) is encoded with the bundled MiniLM into a fresh cache by 1, then by N
replica processes (each its own `Encoder`, 1 torch thread, started together once all have loaded
the model; the time runs from that start to the last replica's return). Every replica counts the
shards it really encoded, so duplicate encodes are measured, not inferred, and its CPU seconds
with their share of a core over the timed span (on a machine busy with other work, wall time
halves only as far as two cores are free; CPU per replica shows the work itself halved). A last
row runs the in-machine path, `encode_corpus(workers=N)`, timed end to end (process start and
model loads included).

    .venv/bin/python benchmarks/encoding_split.py [--docs 3000] [--words 24] [--shard-docs 100]
        [--replicas 2] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SETTINGS = {"model_name_or_path": "minilm"}


def replica(args: argparse.Namespace) -> None:
    """Runs in a child: load the model, wait for `go`, encode with the others, print a report."""
    import torch

    from reasonembed.retrieval import EmbeddingCache, Encoder
    from reasonembed.retrieval.corpus_store import CorpusStore
    from reasonembed.retrieval.sharded import encode_corpus

    torch.set_num_threads(1)
    folder = Path(args.folder)
    documents = [tuple(pair) for pair in json.loads((folder / "documents.json").read_text())]
    store = CorpusStore.write(iter(documents), folder / "corpora", args.shard_docs)
    encoder = Encoder(**SETTINGS)
    calls = []

    class Counted:  # the encoder, counting what it really encodes
        fingerprint, dim = encoder.fingerprint, encoder.dim

        def encode(self, texts, batch_size):
            calls.append(len(texts))
            return encoder.encode(texts, batch_size=batch_size)

    (folder / f"ready-{args.name}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)
    cache = EmbeddingCache(folder / args.cache, encoder.fingerprint)
    cpu = time.process_time()
    encode_corpus(store, Counted(), cache, batch_size=args.batch_size, poll_s=0.05)
    cpu = time.process_time() - cpu
    print(json.dumps({"shards": len(calls), "cpu": cpu, "end": time.time()}))


def run_replicas(folder: Path, count: int, args: argparse.Namespace) -> dict:
    cache = f"emb-replicas-{count}"
    command = [sys.executable, __file__, "replica", "--folder", str(folder), "--cache", cache]
    command += ["--shard-docs", str(args.shard_docs), "--batch-size", str(args.batch_size)]
    children = [
        subprocess.Popen(
            [*command, "--name", f"{count}-{number}"],
            env={**os.environ, **ONE_THREAD},
            stdout=subprocess.PIPE,
            text=True,
        )
        for number in range(count)
    ]
    while not all((folder / f"ready-{count}-{number}").exists() for number in range(count)):
        if any(child.poll() not in (None, 0) for child in children):
            raise SystemExit("a replica failed while loading the model")
        time.sleep(0.05)
    (folder / "go").touch()
    started = time.time()
    reports = [json.loads(child.communicate()[0]) for child in children]
    (folder / "go").unlink()
    if any(child.returncode for child in children):
        raise SystemExit("a replica failed while encoding")
    shards = [report["shards"] for report in reports]
    ends = [report["end"] for report in reports]
    return {
        "label": f"{count} replica{'s' if count > 1 else ''}",
        "seconds": max(ends) - started,
        "per_worker": shards,
        "cpu": [round(report["cpu"], 1) for report in reports],
        "share": f" ({sum(r['cpu'] for r in reports) / count / (max(ends) - started):.2f})",
        "duplicates": sum(shards) - -(-args.docs // args.shard_docs),
    }


def run_workers(folder: Path, count: int, args: argparse.Namespace) -> dict:
    import torch

    from reasonembed.retrieval import EmbeddingCache, Encoder
    from reasonembed.retrieval.corpus_store import CorpusStore
    from reasonembed.retrieval.sharded import encode_corpus

    torch.set_num_threads(1)
    documents = [tuple(pair) for pair in json.loads((folder / "documents.json").read_text())]
    store = CorpusStore.write(iter(documents), folder / "corpora", args.shard_docs)
    encoder = Encoder(**SETTINGS)
    cache = EmbeddingCache(folder / f"emb-workers-{count}", encoder.fingerprint)
    started = time.time()
    report = encode_corpus(
        store, encoder, cache, args.batch_size, count, SETTINGS, torch_threads=1, poll_s=0.05
    )
    return {
        "label": f"workers={count} (with start-up)",
        "seconds": time.time() - started,
        "per_worker": f"{len(report.encoded)} in all",
        "cpu": "",
        "duplicates": len(report.encoded) - len({shard.key for shard in report.encoded}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", default="run", choices=["run", "replica"])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--words", type=int, default=24, help="words per document")
    parser.add_argument("--shard-docs", type=int, default=100)
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.command == "replica":
        replica(args)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from mining import synthetic_corpus

    with tempfile.TemporaryDirectory(prefix="encoding-split-") as tmp:
        folder = Path(tmp)
        texts = [" ".join(text.split()[: args.words]) for text in synthetic_corpus(args.docs)]
        documents = [(f"d{number}", text) for number, text in enumerate(texts)]
        (folder / "documents.json").write_text(json.dumps(documents))
        rows = [run_replicas(folder, count, args) for count in sorted({1, args.replicas})]
        rows.append(run_workers(folder, args.replicas, args))
    print(
        f"{args.docs} documents of {args.words} words, {args.shard_docs}-document shards, "
        f"MiniLM, 1 torch thread per worker, {os.cpu_count()} CPUs"
    )
    print(
        f"{'workers':<26}{'documents':>10}{'seconds':>9}{'docs/s':>8}  {'shards/worker':<14}"
        f"{'dup':>4}  CPU s/worker (share of a core while timed)"
    )
    for row in rows:
        print(
            f"{row['label']:<26}{args.docs:>10}{row['seconds']:>9.1f}"
            f"{args.docs / row['seconds']:>8.0f}  {str(row['per_worker']):<14}"
            f"{row['duplicates']:>4}  {row['cpu']}{row.get('share', '')}"
        )
    base = rows[0]["seconds"]
    for row in rows[1:]:
        print(f"{row['label']}: {base / row['seconds']:.2f}x the speed of 1 replica")


if __name__ == "__main__":
    main()
