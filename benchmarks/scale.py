"""Paper scale on one machine: LLM client throughput, and `reasonembed generate` at 10k, 100k
(and, opt-in, 1M) judgements with wall time, requests/s and peak memory, projected to 8M.

Everything talks to the instant OpenAI-compatible stand-in (tests/support/standin_server.py), run
in a process of its own, so only the client side is measured.

(a) client: `OpenAICompatibleLLM.complete` (empty request cache) over N annotation-like prompts
    against bare `openai.AsyncOpenAI` with a semaphore, same concurrency, same server;
    alternating order between repeats, medians, ratio (goal >= 0.9).
(b) factory: for each size, a generated corpus (jsonl, documents of a few hundred characters)
    and a FactoryConfig with the `openai` backend for both roles (annotation.score_mode: tag),
    then `reasonembed generate CONFIG --output DIR` as a subprocess. Judgements = queries x
    candidates (50 candidates per query). Measured: wall, requests/s (all LLM requests, and
    the annotation stage alone, over the seconds in which annotation answers arrived), peak RSS
    of the whole process tree (sum over the process and all its descendants, from /proc, every
    0.2 s). Then the 8M-judgement projection from the slope between the smallest and the
    largest size.

    .venv/bin/python benchmarks/scale.py                       # (a), then (b) at 10k and 100k
    .venv/bin/python benchmarks/scale.py --judgements 2000     # (a), then (b) at one size
    .venv/bin/python benchmarks/scale.py --with-1m             # adds 1M (long)
    .venv/bin/python benchmarks/scale.py --skip-client         # (b) only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.llm_throughput import bare  # noqa: E402
from reasonembed.llms.openai_compat import OpenAICompatibleLLM  # noqa: E402
from tests.support.standin_server import MODEL, StandinProcess  # noqa: E402

CANDIDATES = 50
MAX_TOKENS = 512
PAPER_JUDGEMENTS = 8_000_000
PAGE = os.sysconf("SC_PAGE_SIZE")
VOCABULARY = (
    "cell protein enzyme membrane gene neuron receptor pathway mutation species habitat "
    "photosynthesis respiration hormone tissue organism evolution bacteria virus immune signal "
    "molecule energy structure function response regulation growth metabolism transport"
).split()


# ---------------------------------------------------------------- (a) client throughput


def annotation_prompts(n: int, tag: str) -> list[str]:
    """Prompts shaped like annotation prompts (~1.5 kB, shared prefix, asking for <score>)."""
    prefix = "Relevance definition: " + "a document is relevant when it helps. " * 20
    return [
        f"{prefix}\nQuery: question {tag}-{i}\nDocument: "
        + " ".join(VOCABULARY[(i * 7 + j) % len(VOCABULARY)] for j in range(120))
        + "\nAnalyse the query, the document, then end with <score>N</score>."
        for i in range(n)
    ]


def client_throughput(url: str, n: int, concurrency: int, repeats: int, work: Path) -> dict:
    """Requests/s of bare AsyncOpenAI and of `complete`, alternating; medians and ratio."""
    asyncio.run(bare(url, MODEL, annotation_prompts(200, "warm"), concurrency, MAX_TOKENS))
    rates: dict[str, list[float]] = {"bare": [], "complete": []}
    for repeat in range(repeats):
        prompts = annotation_prompts(n, f"r{repeat}")
        llm = OpenAICompatibleLLM(
            model=MODEL,
            base_urls=[url],
            concurrency=concurrency,
            temperature=0.0,  # the same request body as `bare` sends
            top_k=None,
            max_new_tokens=MAX_TOKENS,
            request_cache_path=str(work / f"client-{repeat}.sqlite"),  # empty: all fresh
        )
        llm.load()
        runs = [
            (
                "bare",
                lambda prompts=prompts: asyncio.run(
                    bare(url, MODEL, prompts, concurrency, MAX_TOKENS)
                ),
            ),
            ("complete", lambda llm=llm, prompts=prompts: llm.complete(prompts, "bench", 0)),
        ]
        if repeat % 2:
            runs.reverse()
        for name, run in runs:
            start = time.perf_counter()
            run()
            rates[name].append(n / (time.perf_counter() - start))
        llm.unload()
    peer, ours = statistics.median(rates["bare"]), statistics.median(rates["complete"])
    return {"bare": peer, "complete": ours, "ratio": ours / peer, "runs": rates}


# ---------------------------------------------------------------- (b) factory at scale


def write_corpus(path: Path, documents: int, seed: int = 0) -> None:
    """`documents` distinct documents of 300-600 characters (jsonl: doc_id, text)."""
    rng = random.Random(seed)
    with path.open("w") as handle:
        for index in range(documents):
            words, length = [], 0
            target = rng.randint(300, 600)
            while length < target:
                word = rng.choice(VOCABULARY)
                words.append(word)
                length += len(word) + 1
            text = f"Document {index} on {words[0]}: " + " ".join(words) + "."
            handle.write(json.dumps({"doc_id": f"d{index}", "text": text}) + "\n")


def write_config(
    folder: Path, url: str, queries: int, concurrency: int, candidates: int = CANDIDATES
) -> Path:
    corpus = folder / "corpus.jsonl"
    write_corpus(corpus, max(2 * queries, 1000))
    llm = {
        "backend": "openai",
        "model": MODEL,
        "base_url": [url],
        "top_k": None,
        "max_new_tokens": 256,
        "concurrency": concurrency,
        "timeout_s": 120,
        "max_retries": 6,
    }
    config = {
        "name": f"scale-{queries}",
        "seed": 42,
        "domains": [{"domain": "biology", "corpus": {"path": str(corpus)}, "max_seeds": queries}],
        "seeds": {"min_chars": 200, "max_chars": 5000, "max_seeds_per_domain": queries},
        # batch_size: requests per `complete` call (the annotator's is split into whole query
        # rows: 10 queries x 50 candidates per batch)
        "generator": {**llm, "batch_size": 64},
        "annotator": {**llm, "batch_size": 10 * candidates},
        "query_generation": {"max_reasks": 1},
        "mining": {
            "retriever": "minilm",
            "search_top_k": candidates + 10,
            "n_candidates": candidates,
        },
        "annotation": {"score_mode": "tag", "max_reasks": 1},
        "cache_dir": str(folder / "cache"),
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def tree_rss(root: int) -> int:
    """Bytes resident in process `root` and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError):
            continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError):
            pass
        todo.extend(children.get(pid, []))
    return total


class Sampler(threading.Thread):
    """Peak tree RSS every 0.2 s; the stand-in's annotation count once a second (timeline)."""

    def __init__(self, pid: int, server: StandinProcess) -> None:
        super().__init__(daemon=True)
        self.pid, self.server = pid, server
        self.peak = 0
        self.timeline: list[tuple[float, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        last = 0.0
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, tree_rss(self.pid))
            if time.monotonic() - last >= 1.0:
                last = time.monotonic()
                kinds = self.server.stats()["kinds"]
                self.timeline.append((last, kinds.get("annotation", 0)))


def annotation_rate(timeline: list[tuple[float, int]]) -> float | None:
    """Annotation answers per second while annotation requests were flowing: the answers over
    the seconds in which at least one arrived (in the streaming pipeline annotation overlaps
    mining, so the first-to-last window would also count time spent waiting for candidates)."""
    answers = seconds = 0.0
    for (t0, n0), (t1, n1) in zip(timeline, timeline[1:], strict=False):
        if n1 > n0:
            answers += n1 - n0
            seconds += t1 - t0
    return answers / seconds if seconds else None


def run_generate(server: StandinProcess, judgements: int, concurrency: int, work: Path) -> dict:
    queries = max(1, judgements // CANDIDATES)
    folder = work / f"gen-{judgements}"
    folder.mkdir(parents=True)
    config = write_config(folder, server.url, queries, concurrency)
    before = server.stats()["answered"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    start = time.monotonic()
    with open(folder / "generate.log", "wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reasonembed.cli",
                "generate",
                str(config),
                "-o",
                str(folder / "out"),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sampler = Sampler(process.pid, server)
        sampler.start()
        code = process.wait()
        sampler.stop.set()
        sampler.join()
    wall = time.monotonic() - start
    if code != 0:
        tail = (folder / "generate.log").read_text(errors="replace")[-2000:]
        raise SystemExit(f"generate failed at {judgements} judgements (exit {code}):\n{tail}")
    requests = server.stats()["answered"] - before
    stats_file = folder / "out" / "stats.json"
    samples = None
    if stats_file.exists():
        stats = json.loads(stats_file.read_text())
        samples = stats.get("samples")
    return {
        "judgements": queries * CANDIDATES,
        "queries": queries,
        "wall_s": wall,
        "requests": requests,
        "requests_per_s": requests / wall,
        "annotation_per_s": annotation_rate(sampler.timeline),
        "peak_rss_mib": sampler.peak / 2**20,
        "samples": samples,
    }


def projection(rows: list[dict]) -> dict | None:
    """Wall and peak RSS at 8M judgements, linear from the smallest to the largest run."""
    if len(rows) < 2:
        return None
    low, high = rows[0], rows[-1]
    span = high["judgements"] - low["judgements"]
    out = {}
    for key in ("wall_s", "peak_rss_mib"):
        slope = (high[key] - low[key]) / span
        out[key] = high[key] + slope * (PAPER_JUDGEMENTS - high["judgements"])
        out[key + "_per_judgement"] = slope
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--client-requests", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5, help="alternating client runs")
    parser.add_argument("--judgements", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--with-1m", action="store_true", help="also run 1,000,000 judgements")
    parser.add_argument("--skip-client", action="store_true")
    parser.add_argument("--skip-generate", action="store_true")
    args = parser.parse_args()
    sizes = sorted(set(args.judgements + ([1_000_000] if args.with_1m else [])))
    work = Path(tempfile.mkdtemp(prefix="reasonembed_scale_"))
    print(f"work folder: {work}", flush=True)

    client, rows = None, []
    with StandinProcess() as server:
        if not args.skip_client:
            client = client_throughput(
                server.url, args.client_requests, args.concurrency, args.repeats, work
            )
        if not args.skip_generate:
            for size in sizes:
                print(f"generate at {size:,} judgements ...", flush=True)
                rows.append(run_generate(server, size, args.concurrency, work))

    if client:
        print(
            f"\n(a) client, {args.client_requests} annotation-like requests, concurrency "
            f"{args.concurrency}, median of {args.repeats} alternating runs"
        )
        print(f"{'client':<28} {'req/s':>9}   runs")
        for name, label in (
            ("bare", "bare openai.AsyncOpenAI"),
            ("complete", "OpenAICompatibleLLM"),
        ):
            runs = " ".join(f"{rate:.0f}" for rate in client["runs"][name])
            print(f"{label:<28} {client[name]:>9.1f}   {runs}")
        print(f"{'ratio (goal >= 0.90)':<28} {client['ratio']:>9.2f}")
    if rows:
        print(
            f"\n(b) reasonembed generate, openai backend on the stand-in, {CANDIDATES} candidates/query"
        )
        print(
            f"{'judgements':>11} {'queries':>8} {'wall s':>8} {'LLM req':>9} {'req/s':>7} "
            f"{'annot. req/s':>12} {'peak RSS MiB':>13} {'samples':>8}"
        )
        for row in rows:
            annotation = row["annotation_per_s"]
            print(
                f"{row['judgements']:>11,} {row['queries']:>8,} {row['wall_s']:>8.1f} "
                f"{row['requests']:>9,} {row['requests_per_s']:>7.1f} "
                f"{(f'{annotation:.1f}' if annotation else '-'):>12} {row['peak_rss_mib']:>13.0f}"
                f" {row['samples'] if row['samples'] is not None else '-':>8}"
            )
        if client and rows[-1]["annotation_per_s"]:
            print(
                f"annotation stage / bare client: {rows[-1]['annotation_per_s'] / client['bare']:.2f}"
            )
        projected = projection(rows)
        if projected:
            print(
                f"projection to {PAPER_JUDGEMENTS:,} judgements (slope {rows[0]['judgements']:,} -> "
                f"{rows[-1]['judgements']:,}): wall {projected['wall_s'] / 3600:.1f} h, peak RSS "
                f"{projected['peak_rss_mib'] / 1024:.1f} GiB "
                f"({projected['peak_rss_mib_per_judgement'] * 1024:.2f} KiB per judgement)"
            )


if __name__ == "__main__":
    main()
