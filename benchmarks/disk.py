"""Disk use of `reasonembed generate`: the output folder, what stays beside it, and the peak.

One run of `reasonembed generate` (a subprocess of the CLI) at N judgements (queries x 100
candidates) against the instant OpenAI-compatible stand-in (tests/support/standin_server.py, a
process of its own), with the corpus and config of benchmarks/scale.py. HOME points at an empty
folder of the run (XDG_*, HF_* and other cache variables unset), so everything a library would
put in the user's home is counted. A thread samples the disk use (allocated blocks, as du) of
cache_dir, of the output folder with its staging siblings and of HOME every second: the peak.
After the run: the output folder by part, cache_dir by part, and HOME.

With `--baseline REV` the same run is made first with the code of commit REV (a git worktree
in the work folder, its package first on sys.path), and the table shows both side by side; the
issue's figures (22: 60,000 judgements, before this work) are printed as a third column.

    .venv/bin/python benchmarks/disk.py                          # 100,000 judgements
    .venv/bin/python benchmarks/disk.py --judgements 20000 --baseline 84be5d4~1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

from pydantic.warnings import UnsupportedFieldAttributeWarning

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# distilabel 1.5.3 declares a field pydantic 2.14 warns about on import (as cli.main silences it)
warnings.filterwarnings("ignore", category=UnsupportedFieldAttributeWarning)

from benchmarks.scale import write_config  # noqa: E402
from tests.support.factory_inputs import env_with_home  # noqa: E402
from tests.support.standin_server import StandinProcess  # noqa: E402

CANDIDATES = 100
MB = 1e6
# issue 22, measured before this work at 60,000 judgements (600 queries x 100 candidates), MB
ISSUE = {
    "output folder": 153.0,
    "cache: distilabel step outputs": 316.0,
    "cache: requests.sqlite": 29.0,
    "HOME (~/.cache/huggingface)": 99.0,
}


def disk_bytes(path: Path) -> int:
    """Allocated bytes of a file or under a folder (st_blocks, as du counts them); 0 when
    `path` does not exist."""
    if path.is_file():
        return path.stat().st_blocks * 512
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        else:
                            total += entry.stat(follow_symlinks=False).st_blocks * 512
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


class PeakDisk(threading.Thread):
    """The largest sum of `paths()` disk use seen, sampled every `interval_s`."""

    def __init__(self, paths, interval_s: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.paths, self.interval_s = paths, interval_s
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval_s):
            self.peak = max(self.peak, sum(disk_bytes(path) for path in self.paths()))


def worktree(rev: str, work: Path) -> Path:
    folder = work / f"code-{rev.replace('/', '_').replace('~', '-')}"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(folder), rev],
        check=True,
        capture_output=True,
    )
    return folder


def measure(server: StandinProcess, queries: int, work: Path, code: Path) -> dict:
    """One generate run with the package at `code`; sizes in bytes."""
    folder = work / f"run-{code.name}"
    home = folder / "home"
    home.mkdir(parents=True)
    config = write_config(folder, server.url, queries, concurrency=16, candidates=CANDIDATES)
    cache, output = folder / "cache", folder / "out"
    env = env_with_home(home)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        PYTHONPATH=str(code),
    )

    def watched() -> list[Path]:  # the output folder's staging siblings are listed afresh
        return [cache, home, *folder.glob(".out*"), output]

    sampler = PeakDisk(watched)
    started = time.monotonic()
    with open(folder / "generate.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "reasonembed.cli", "generate", str(config), "-o", str(output)],
            cwd=code,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        sampler.start()
        code_status = process.wait()
        sampler.stop.set()
        sampler.join()
    if code_status != 0:
        tail = (folder / "generate.log").read_text(errors="replace")[-2000:]
        raise SystemExit(f"generate failed with {code} (exit {code_status}):\n{tail}")
    parts = {
        "output folder": disk_bytes(output),
        **{
            f"  {name}": disk_bytes(output / name)
            for name in ("raw", "reasonembed", "flagembedding", "sentence-transformers")
        },
        "  quarantine": disk_bytes(output / "quarantine"),
        "cache: distilabel step outputs": disk_bytes(cache / "distilabel"),
        "cache: requests.sqlite": sum(disk_bytes(path) for path in cache.glob("requests.sqlite*")),
        "cache: embeddings": disk_bytes(cache / "embeddings"),
        "HOME (~/.cache/huggingface)": disk_bytes(home / ".cache" / "huggingface"),
        "HOME (all)": disk_bytes(home),
    }
    outside = disk_bytes(cache) + parts["HOME (all)"]
    parts["cache: other (seeds, pacing, markers)"] = (
        disk_bytes(cache)
        - parts["cache: distilabel step outputs"]
        - parts["cache: requests.sqlite"]
        - parts["cache: embeddings"]
    )
    parts["outside the output folder"] = outside
    parts["peak during the run"] = sampler.peak
    parts["wall s"] = time.monotonic() - started
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judgements", type=int, default=100_000)
    parser.add_argument("--baseline", metavar="REV", help="also run the code of commit REV")
    args = parser.parse_args()
    queries = max(1, args.judgements // CANDIDATES)
    work = Path(tempfile.mkdtemp(prefix="reasonembed_disk_"))
    print(f"work folder: {work}", flush=True)
    runs: dict[str, dict] = {}
    trees = []
    try:
        with StandinProcess() as server:
            if args.baseline:
                trees.append(worktree(args.baseline, work))
                print(f"generate at {queries * CANDIDATES:,} judgements, {args.baseline} ...")
                runs[args.baseline] = measure(server, queries, work, trees[-1])
            print(f"generate at {queries * CANDIDATES:,} judgements, this tree ...", flush=True)
            runs["now"] = measure(server, queries, work, REPO)
    finally:
        for tree in trees:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
            )

    columns = ["issue 22 (60k)", *(f"{name} ({queries * CANDIDATES // 1000}k)" for name in runs)]
    print(f"\ndisk use, MB (allocated), {queries:,} queries x {CANDIDATES} candidates")
    print(f"{'':<40}" + "".join(f"{column:>20}" for column in columns))
    for row in runs["now"]:
        if row == "wall s":
            continue
        issue = ISSUE.get(row)
        cells = [f"{issue:.0f}" if issue is not None else "-"]
        cells += [f"{run[row] / MB:.1f}" for run in runs.values()]
        print(f"{row:<40}" + "".join(f"{cell:>20}" for cell in cells))
    ratio = [run["outside the output folder"] / run["output folder"] for run in runs.values()]
    issue_ratio = (sum(ISSUE.values()) - ISSUE["output folder"]) / ISSUE["output folder"]
    print(
        f"{'outside / output folder (goal <= 0.5)':<40}{issue_ratio:>20.2f}"
        + "".join(f"{value:>20.2f}" for value in ratio)
    )
    print(f"{'wall s':<40}{'-':>20}" + "".join(f"{run['wall s']:>20.0f}" for run in runs.values()))


if __name__ == "__main__":
    main()
