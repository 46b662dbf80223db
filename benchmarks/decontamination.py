"""Decontamination speed: generated queries against the 1,384 real BRIGHT test queries.

Compares, on the same inputs and in the same run, each in its own process (wall time, peak RSS):
- reasonembed: `QueryDecontaminator` (exact + word 13-gram + MinHash/Jaccard; no embeddings);
- datatrove: `NGramsDecontFilter` (13-gram, its own spaCy word tokenizer and xxhash), if a Python
  with datatrove is given by --datatrove-python. datatrove is NOT a project dependency; install it
  in a throwaway venv:

      python3 -m venv /tmp/dtvenv
      /tmp/dtvenv/bin/pip install datatrove==0.10.1 spacy regex xxhash

  datatrove's index builder (`NGramsDecontIndexer`) requires lighteval (which pulls a full
  evaluation stack) just to be constructed, so the index is built here from the same datatrove
  functions its `compute_hashes` calls (word tokenizer, simplify_text, ngrams, hash function) and
  written in its `.index.hashes` format; the filtering is datatrove's own `NGramsDecontFilter`.

Generated queries (--n, default 100,000) are synthesised with a fixed seed: alphabetic words drawn
from the BRIGHT queries' overall word distribution (unrelated to any one test query), 20-300 words; 1% are
exact copies of a test query, 1% light edits (10% of the words replaced), 1% a test query quoted
inside a longer text. The table shows recall on each injected kind and matches among the clean
queries (false positives).

    .venv/bin/python benchmarks/decontamination.py --bright ../shared/bright \\
        --datatrove-python /tmp/dtvenv/bin/python [--n 100000]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KINDS = ("clean", "exact_copy", "light_edit", "quoted")


def read_bright(folder: Path) -> tuple[list[str], list[str]]:
    """(queries, ids) of BRIGHT examples through the project's loader."""
    from reasonembed.bright.data import load_bright_queries

    return load_bright_queries(bright=str(folder))


def synthesise(test_queries: list[str], n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """(queries, kinds): n generated queries, 1% of each contaminated kind."""
    rng = random.Random(seed)
    # natural words only: a whitespace token such as a URL or a file path copied from a test
    # query is itself 13+ words of that query (a real, if partial, copy)
    pool = [word for query in test_queries for word in query.split() if word.isalpha()]
    fillers = ["really", "thing", "maybe", "quite", "also", "perhaps"]
    queries, kinds = [], []
    for index in range(n):
        bucket = index % 100
        if bucket == 0:
            queries.append(rng.choice(test_queries))
            kinds.append("exact_copy")
        elif bucket == 1:
            tokens = rng.choice(test_queries).split()
            for position in rng.sample(range(len(tokens)), max(1, len(tokens) // 10)):
                tokens[position] = rng.choice(fillers)
            queries.append(" ".join(tokens))
            kinds.append("light_edit")
        elif bucket == 2:
            intro = " ".join(rng.choices(pool, k=rng.randint(10, 40)))
            queries.append(f"{intro} As asked elsewhere: {rng.choice(test_queries)}")
            kinds.append("quoted")
        else:
            queries.append(" ".join(rng.choices(pool, k=rng.randint(20, 300))))
            kinds.append("clean")
    return queries, kinds


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across exec
    from the parent). Includes the worker's own copy of the input queries."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_reasonembed(data: dict) -> dict:
    from reasonembed.quality.decontamination import QueryDecontaminator

    start = time.perf_counter()
    decontaminator = QueryDecontaminator(data["test_queries"], data["test_ids"])
    built = time.perf_counter()
    matches = decontaminator.match(data["queries"], show_progress=False)
    done = time.perf_counter()
    return {
        "flags": [match is not None for match in matches],
        "build_s": built - start,
        "match_s": done - built,
        "peak_rss_mib": peak_rss_mib(),
    }


def worker_datatrove(data: dict) -> dict:
    import numpy as np
    from datatrove.data import Document
    from datatrove.pipeline.decont import NGramsDecontConfig, NGramsDecontFilter
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.text import ngrams, simplify_text
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    config = NGramsDecontConfig(n_grams=13, find_query_ngrams=True, find_overlap_ngrams=False)
    index_folder = tempfile.mkdtemp(prefix="datatrove-index-")
    start = time.perf_counter()
    # what NGramsDecontIndexer.compute_hashes does for each test query (see module docstring)
    tokenizer = load_word_tokenizer("en")
    hash_func = create_hash_func(config.hash_config)
    hashes = set()
    for query in data["test_queries"]:
        tokens = tokenizer.word_tokenize(simplify_text(query, config.norm_config))
        hashes.update(hash_func(" ".join(gram)) for gram in ngrams(tokens, config.n_grams))
    array = np.array(sorted(hashes), dtype=config.hash_config.np_descr)
    array.tofile(os.path.join(index_folder, "bright.index.hashes"))
    step = NGramsDecontFilter(index_folder, config=config)
    step.load_index_hashes()
    built = time.perf_counter()
    flags = []
    for position, query in enumerate(data["queries"]):
        result = step.filter(Document(text=query, id=str(position)))
        flags.append(result is not True)
    done = time.perf_counter()
    return {
        "flags": flags,
        "build_s": built - start,
        "match_s": done - built,
        "peak_rss_mib": peak_rss_mib(),
    }


def run_worker(python: str, name: str, data_file: str) -> dict:
    """Run a worker in its own process (clean peak memory); returns its JSON result."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        command = [python, __file__, "--worker", name, "--data", data_file, "--result", out.name]
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env)
        wall = time.perf_counter() - start
        result = json.loads(Path(out.name).read_text())
    result["wall_s"] = wall
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bright", type=Path, default=Path("../shared/bright"))
    parser.add_argument("--n", type=int, default=100_000, help="generated queries")
    parser.add_argument(
        "--datatrove-python", default=None, help="a Python with datatrove installed"
    )
    parser.add_argument("--worker", choices=("reasonembed", "datatrove"), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        data = json.loads(Path(args.data).read_text())
        worker = worker_reasonembed if args.worker == "reasonembed" else worker_datatrove
        Path(args.result).write_text(json.dumps(worker(data)))
        return 0

    if not glob.glob(str(args.bright / "examples" / "*.parquet")):
        print(f"no BRIGHT examples under {args.bright}/examples: pass --bright", file=sys.stderr)
        return 1
    test_queries, test_ids = read_bright(args.bright)
    queries, kinds = synthesise(test_queries, args.n)
    words = sum(len(query.split()) for query in queries)
    print(
        f"{len(queries):,} generated queries ({words / len(queries):.0f} words on average) "
        f"against {len(test_queries):,} BRIGHT test queries; {os.cpu_count()} cores"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"test_queries": test_queries, "test_ids": test_ids, "queries": queries}, handle)
        data_file = handle.name
    results = {"reasonembed": run_worker(sys.executable, "reasonembed", data_file)}
    if args.datatrove_python:
        try:
            results["datatrove"] = run_worker(args.datatrove_python, "datatrove", data_file)
        except subprocess.CalledProcessError as error:
            print(f"datatrove worker failed ({error}); see its traceback above", file=sys.stderr)
    else:
        print("datatrove: not run (no --datatrove-python given)")
    os.unlink(data_file)

    header = ["system", "wall s", "index s", "match s", "peak MiB", *[f"{k} hit" for k in KINDS]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, result in results.items():
        rates = []
        for kind in KINDS:
            flags = [flag for flag, k in zip(result["flags"], kinds, strict=True) if k == kind]
            rates.append(f"{sum(flags):,}/{len(flags):,}")
        row = [
            name,
            f"{result['wall_s']:.1f}",
            f"{result['build_s']:.1f}",
            f"{result['match_s']:.1f}",
            f"{result['peak_rss_mib']:.0f}",
            *rates,
        ]
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
