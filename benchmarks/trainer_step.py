"""Step time and peak memory of Redapter's ri-infonce against plain infonce on the same batches,
and of ri-infonce accumulated in chunks with cached representations (GradCache).

    .venv/bin/python benchmarks/trainer_step.py [--queries 8] [--group 16] [--steps 5] [--chunk 2]

One training step = forward of queries and passages (+ the no_grad forward of the reasoning
queries for ri-infonce), loss, backward, clip, AdamW step, on all-MiniLM-L6-v2 on CPU.
The accumulated variant computes the same loss and gradient in chunks of `--chunk` queries:
a no-grad forward of every chunk, the loss, then a forward with gradients and a backward per
chunk (one extra forward of queries and passages; activation memory of one chunk).
Step time: the variants run in one process, alternating their order on the same batches (so
machine load hits them alike); the median over `--steps` timed steps after one warm-up step each.
Peak memory: each variant runs `--memory-steps` steps in a fresh process; reported as the peak
resident set size during those steps (VmHWM, reset after loading) and its rise over the size
after loading the model (model weights and AdamW state count from the first step on).
Goals: ri-infonce at most 1.25x the step time of infonce (issue 6); accumulation about 1.33x
ri-infonce (one forward more per forward + backward) with a lower peak (issue 14).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

WORDS = (
    "gravity ocean tide moon orbit force mass energy wave cell protein enzyme market price "
    "demand supply inflation rate array index pointer recursion graph node edge theorem proof "
    "integer prime lemma volcano magma crust plate fault glacier valley river erosion sediment"
).split()


def make_batches(queries: int, group: int, count: int, seed: int = 0):
    """`count` batches of `queries` queries (with reasoning queries) and query*group passages."""
    from reasonembed.train.data import Batch

    rng = random.Random(seed)

    def text(words: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(words))

    batches = []
    for _ in range(count):
        qs = [f"Instruct: Retrieve relevant passages.\nQuery: {text(40)}" for _ in range(queries)]
        rqs = [f"{q} {text(60)}" for q in qs]
        passages = [text(110) for _ in range(queries * group)]
        batches.append(Batch("bench", qs, rqs, passages, group))
    return batches


def make_trainer(max_length: int):
    import torch

    from reasonembed.retrieval import Encoder

    torch.manual_seed(0)
    encoder = Encoder("minilm", max_length=max_length, device="cpu")
    encoder.model.train()
    trainable = [p for p in encoder.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    return encoder, trainable, optimizer


def variants(chunk: int) -> dict[str, tuple[bool, int | None]]:
    """name -> (RI weighting, queries per chunk; None: the whole batch in one piece)."""
    return {
        "infonce": (False, None),
        "ri-infonce": (True, None),
        f"ri chunk {chunk}": (True, chunk),
    }


def one_step(encoder, trainable, optimizer, batch, use_ri: bool, chunk: int | None) -> float:
    from reasonembed.train.step import apply_gradients, forward_backward

    started = time.perf_counter()
    forward_backward(encoder, batch, temperature=0.02, use_ri=use_ri, chunk_queries=chunk)
    apply_gradients(trainable, optimizer, None, max_grad_norm=1.0)
    return time.perf_counter() - started


def rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_rss() -> None:
    """Start VmHWM again from the current size (Linux >= 4.0: write 5 to clear_refs)."""
    Path("/proc/self/clear_refs").write_text("5")


def memory_worker(name: str, args: argparse.Namespace, queue) -> None:
    import torch

    torch.set_num_threads(args.threads)
    use_ri, chunk = variants(args.chunk)[name]
    encoder, trainable, optimizer = make_trainer(args.max_length)
    batches = make_batches(args.queries, args.group, args.memory_steps)
    reset_peak_rss()
    baseline = rss_mb("VmRSS")
    for batch in batches:
        one_step(encoder, trainable, optimizer, batch, use_ri, chunk)
    peak = rss_mb("VmHWM")
    queue.put((name, peak, peak - baseline))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--group", type=int, default=16)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per loss")
    parser.add_argument("--memory-steps", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--chunk", type=int, default=2, help="queries per accumulation chunk")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    encoder, trainable, optimizer = make_trainer(args.max_length)
    batches = make_batches(args.queries, args.group, args.steps + 1)
    kinds = variants(args.chunk)
    times: dict[str, list[float]] = {name: [] for name in kinds}
    for index, batch in enumerate(batches):
        order = list(kinds) if index % 2 == 0 else list(reversed(kinds))
        for name in order:
            seconds = one_step(encoder, trainable, optimizer, batch, *kinds[name])
            if index > 0:  # the first batch warms up every variant
                times[name].append(seconds)

    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    memory = {}
    for loss in times:
        worker = context.Process(target=memory_worker, args=(loss, args, queue))
        worker.start()
        name, peak, rise = queue.get()
        worker.join()
        memory[name] = (peak, rise)

    base = statistics.median(times["infonce"])
    print(
        f"MiniLM on CPU, {args.threads} thread(s): {args.queries} queries x group {args.group} "
        f"({args.queries * args.group} passages), max length {args.max_length}, "
        f"{args.steps} timed steps per loss"
    )
    print(
        f"{'variant':<12} {'median step s':>14} {'vs infonce':>11} {'peak RSS MB':>12} {'rise MB':>9}"
    )
    for name, values in times.items():
        median = statistics.median(values)
        peak, rise = memory[name]
        print(f"{name:<12} {median:>14.3f} {median / base:>10.2f}x {peak:>12.0f} {rise:>9.0f}")
    ri = statistics.median(times["ri-infonce"])
    ratio = ri / base
    print(
        f"goal ri-infonce <= 1.25x infonce: {'met' if ratio <= 1.25 else 'NOT met'} ({ratio:.2f}x)"
    )
    chunked = f"ri chunk {args.chunk}"
    print(
        f"accumulation ({-(-args.queries // args.chunk)} chunks of {args.chunk} queries): "
        f"{statistics.median(times[chunked]) / ri:.2f}x the step time of ri-infonce in one piece, "
        f"activation memory (rise) {memory[chunked][1]:.0f} MB vs {memory['ri-infonce'][1]:.0f} MB"
    )


if __name__ == "__main__":
    main()
