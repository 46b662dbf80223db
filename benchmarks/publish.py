"""Publishing to the loopback Hub: wall time and peak memory against dataset size.

    .venv/bin/python benchmarks/publish.py [--sizes 10000 100000]

For each size: writes a synthetic `reasonembed generate` folder (raw + sentence-transformers
parquet shards of 10,000 rows, reasonembed + flagembedding JSONL for 4 domains), then in a fresh
process each (peak RSS = that process's ru_maxrss):
  - reasonembed publish: all four configs + card + metadata, one commit + tag;
  - peer: `datasets` `Dataset.push_to_hub` of the raw config alone (what distilabel's
    Distiset.push_to_hub does per config).
The Hub is tests/support/hub_server.py in its own process (its memory is not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARD_ROWS = 10_000
DOMAINS = ("biology", "economics", "leetcode", "pony")


def write_folder(folder: Path, n_samples: int) -> None:
    """A synthetic output folder written by the factory's own streaming writer (bounded
    memory): annotated query rows through AssembleSamples, 1,000 at a time."""
    sys.path.insert(0, str(ROOT))
    from reasonembed.config import parse_config
    from reasonembed.factory.generate import write_output_folder
    from reasonembed.steps.assembly import AssembleSamples
    from tests.support.factory_output import annotated_row, config_for

    config = parse_config(config_for(folder, dict.fromkeys(DOMAINS, 1)))
    step = AssembleSamples(name="assemble_samples")
    step.load()

    def batches():
        for start in range(0, n_samples, 1_000):
            rows = []
            for index in range(start, min(n_samples, start + 1_000)):
                row = annotated_row(DOMAINS[index % len(DOMAINS)], index, 1)
                row["source_text"] = row["source_text"] * 8
                rows.append(row)
            yield list(next(step.process(rows)))

    seeds = {domain: len(range(i, n_samples, len(DOMAINS))) for i, domain in enumerate(DOMAINS)}
    write_output_folder(
        config,
        folder,
        batches(),
        {d: {"considered": n, "selected": n} for d, n in seeds.items()},
        {"pipeline": {"name": "benchmark"}},
        shard_rows=SHARD_ROWS,
    )


def worker(mode: str, folder: str, repo: str, version: str) -> None:
    """Runs in a child process: one publish, then prints wall seconds and peak RSS (MiB)."""
    start = time.perf_counter()
    if mode == "reasonembed":
        from reasonembed.hub.release import publish

        publish(folder, repo, version)
    else:
        import datasets

        data = datasets.load_dataset(
            "parquet",
            data_files=f"{folder}/raw/*.parquet",
            split="train",
            cache_dir=f"{folder}-cache",
        )
        data.push_to_hub(repo, config_name="raw", revision="main")
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall_s": wall, "peak_mib": peak}))


def run_worker(mode: str, folder: Path, repo: str, version: str, env: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", mode, str(folder), repo, version],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def folder_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args()
    token = "hf_benchmark_" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory(prefix="publish-bench-") as tmp:
        tmp = Path(tmp)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.hub_server",
                "--storage",
                str(tmp / "hub"),
                "--token",
                token,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            port = server.stdout.readline().strip()
            url = f"http://127.0.0.1:{port}"
            env = {
                **os.environ,
                "HF_ENDPOINT": url,
                "HF_HUB_DISABLE_XET": "1",
                "HF_HUB_OFFLINE": "0",
                "HF_DATASETS_OFFLINE": "0",
                "HF_TOKEN": token,
                "HF_HOME": str(tmp / "hf"),
                "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                "PYTHONPATH": str(ROOT),
            }
            rows = []
            for size in args.sizes:
                folder = tmp / f"out-{size}"
                start = time.perf_counter()
                write_folder(folder, size)
                print(
                    f"wrote {size} samples ({folder_mib(folder):.0f} MiB) in {time.perf_counter() - start:.0f} s",
                    flush=True,
                )
                for mode in ("reasonembed", "datasets push_to_hub (raw only)"):
                    key = "reasonembed" if mode == "reasonembed" else "peer"
                    result = run_worker(key, folder, f"bench/{key}-{size}", "1.0.0", env)
                    rows.append(
                        (
                            size,
                            mode,
                            folder_mib(folder / "raw") if key == "peer" else folder_mib(folder),
                            result,
                        )
                    )
                    print(
                        f"  {mode}: {result['wall_s']:.1f} s, peak {result['peak_mib']:.0f} MiB",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait()
    print()
    print(f"{'samples':>8} | {'publisher':<32} | {'data MiB':>8} | {'wall s':>7} | {'peak MiB':>8}")
    print("-" * 76)
    for size, mode, mib, result in rows:
        print(
            f"{size:>8} | {mode:<32} | {mib:>8.0f} | {result['wall_s']:>7.1f} | {result['peak_mib']:>8.0f}"
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:6])
    else:
        main()
