"""`reasonembed generate` end to end against a real OpenAI-compatible server on 127.0.0.1 (the
stand-in: deterministic answers, so the funnel is exact), with real mining (MiniLM, FAISS)."""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import sqlite3
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from reasonembed.config import parse_config
from reasonembed.data.output_folder import GENERATED_ENTRIES
from reasonembed.data.stats import RunStats
from reasonembed.errors import EmptyDataset, UserError
from reasonembed.factory.generate import carry_over, generate
from reasonembed.factory.pipeline import pacing_file_of
from reasonembed.factory.run_state import fold_usage, run_entry, start_llm_run
from reasonembed.hub.release import publish
from reasonembed.llms.request_cache import RequestCache, request_cache_path
from reasonembed.llms.usage import RUN_ID_ENV
from reasonembed.quality.browse import existing_browse_limit
from reasonembed.quality.report import write_report
from reasonembed.steps.seed_gate import SeedGate
from tests.support.factory_inputs import tiny_config, write_corpus
from tests.support.factory_output import write_output
from tests.support.standin_server import StandinServer

N_CANDIDATES = 4


@pytest.fixture(scope="module")
def server():
    with StandinServer() as running:
        yield running


def _config(tmp_path, server, **overrides) -> dict:
    role = {"backend": "openai", "model": "standin", "base_url": server.url, "batch_size": 8}
    return tiny_config(
        write_corpus(tmp_path),
        tmp_path / "cache",
        generator=role,
        annotator=role,
        mining={"search_top_k": 6, "n_candidates": N_CANDIDATES},
        annotation={"score_mode": "tag", "max_reasks": 0},
        **overrides,
    )


def test_a_run_without_any_rejection_has_the_exact_funnel(tmp_path, server):
    output = tmp_path / "out"
    stats = generate(parse_config(_config(tmp_path, server)), output)

    funnel = {stage.stage: stage.count for stage in stats.funnel}
    assert funnel == {
        "corpus documents": 7,
        "seeds": 2,  # one document too short, one the copy of another's text
        "queries": 2,
        "mined queries": 2,
        "annotated queries": 2,
        "samples": 2,
    }
    assert stats.drops == {
        "seeds:drop:duplicate_text": 1,
        "seeds:drop:too_short": 1,
        "seeds:not_sampled:max_seeds": 3,  # 5 eligible documents, max_seeds 2
    }
    assert stats.candidates == stats.judgements == 2 * N_CANDIDATES
    assert stats.quarantined.model_dump() == {"queries": 0, "judgements": 0}
    assert pq.read_table(output / "quarantine" / "quarantine.parquet").num_rows == 0
    raw = pq.read_table(output / "raw").to_pylist()
    assert len(raw) == 2 and stats.samples_per_domain == {"leetcode": 2}
    assert sum(len(sample["candidates"]) for sample in raw) == 2 * N_CANDIDATES
    assert stats.positives_per_sample + stats.negatives_per_sample == N_CANDIDATES
    usage = stats.llm_usage["stages"]
    assert usage["annotation"]["requests"] == 2 * N_CANDIDATES
    assert usage["query"]["requests"] == usage["reasoning"]["requests"] == 2
    # the exports agree with raw, row for row
    lines = (output / "reasonembed" / "leetcode.jsonl").read_text().splitlines()
    assert [json.loads(line)["query"] for line in lines] == [sample["query"] for sample in raw]
    assert RunStats.read(output) == stats

    # the report and the dataset card say the same numbers as stats.json
    write_report(output)
    report = (output / "report" / "report.md").read_text()
    publish(output, "org/remixer-test", "1.0.0", dry_run=True, dry_run_dir=tmp_path / "release")
    card = (tmp_path / "release" / "README.md").read_text()
    for stage in stats.funnel:
        assert f"| {stage.stage} | {stage.count:,} |" in report
        assert f"| {stage.stage} | {stage.count} |" in card
    assert f"| {stats.samples} | 1 | {stats.judgements} |" in report
    assert "| leetcode | 2 |" in card  # samples per domain


def test_a_run_that_keeps_nothing_fails_naming_the_largest_drop(tmp_path, server):
    # every query quotes "0%" of its source, and the filter drops at >= 0%
    config = _config(tmp_path, server, quality={"max_source_copy_share": 0.0})
    with pytest.raises(
        EmptyDataset,
        match=r"the largest drop is seeds -> queries \(2 of 2 lost; query_filter:drop:source_copy: 2\)",
    ):
        generate(parse_config(config), tmp_path / "out")
    stats = RunStats.read(tmp_path / "out")  # written for diagnosis
    assert stats.samples == 0

    # the command a user runs: one ERROR line, last, and exit status 1 (no traceback)
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "reasonembed.cli",
            "generate",
            str(path),
            "-o",
            str(tmp_path / "o2"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if " ERROR " in line]
    assert len(errors) == 1 and "no sample kept" in errors[0] and lines[-1] == errors[0]
    assert "Traceback" not in result.stderr


class _Lines(logging.Handler):
    """The messages of one logger (on the logger itself: distilabel replaces the root's handlers
    while a pipeline runs, pytest's caplog among them)."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.INFO)
        self.logger = logging.getLogger(name)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def __enter__(self) -> _Lines:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        self.logger.removeHandler(self)


def test_a_rerun_keeps_the_record_and_another_config_is_refused_or_replaced(tmp_path, server):
    output = tmp_path / "out"
    config = parse_config(_config(tmp_path, server))
    first = generate(config, output, keep_step_outputs=True)
    assert first.samples == 2
    paid = first.llm_usage["total"]
    asked = 2 + 2 + 2 * N_CANDIDATES  # queries, reasoning queries, judgements (no re-ask)
    assert paid["requests"] == asked and paid["prompt_tokens"] > 0 and paid["completion_tokens"] > 0
    write_report(output, browse_limit=1)
    (output / "notes.md").write_text("my notes\n")

    # the same config again into the same folder: every answer from distilabel's step cache
    with _Lines("reasonembed.generate") as log:
        generate(config, output)
    assert (output / "report" / "index.html").is_file()  # rewritten from the new data
    assert existing_browse_limit(output / "report") == 1  # with the user's --browse-limit
    assert (output / "notes.md").read_text() == "my notes\n"
    again = RunStats.read(output)
    assert again.llm_usage["total"] == paid  # the first run's requests, tokens and cost kept
    first_run, second_run = again.llm_usage["runs"]
    assert first_run["run_id"] == first.llm_usage["run_id"] and first_run["total"] == {
        **paid,
        "step_cache": 0,
    }
    assert second_run["run_id"] == again.llm_usage["run_id"] != first_run["run_id"]
    assert (
        second_run["total"].get("requests", 0) == 0 and second_run["total"]["step_cache"] == asked
    )
    assert second_run["stages"]["annotation"]["step_cache"] == 2 * N_CANDIDATES
    said = log.text
    assert f"re-ran into {output}, which held an earlier run of this config" in said
    assert "keeps 1 earlier run" in said and "rewrote report/; kept notes.md" in said
    assert (
        "LLM answers of this run: 0 requests sent (0 retried), 0 from the request cache, "
        f"{asked} reused from the step cache" in said
    )
    assert f"(the folder's 2 runs: {asked} requests sent" in said

    # and again, the step outputs removed after the complete run: the request cache answers
    with _Lines("reasonembed.generate") as log:
        third = generate(config, output)
    assert third.llm_usage["total"]["requests"] == asked and len(third.llm_usage["runs"]) == 3
    assert third.run_usage()["total"]["cached"] == asked
    assert (
        f"0 requests sent (0 retried), {asked} from the request cache, 0 reused from the step "
        "cache" in log.text
    )
    publish(output, "org/remixer-test", "1.0.0", dry_run=True, dry_run_dir=tmp_path / "release")
    assert (tmp_path / "release" / "report" / "report.md").is_file()  # the report ships

    (output / "reasonembed" / "stale-domain.jsonl").write_text('{"query": "old"}\n')
    other = _config(tmp_path, server, seed=8)  # another config: another run
    with pytest.raises(UserError, match="pass --overwrite to replace it"):
        generate(parse_config(other), output)
    assert (output / "reasonembed" / "stale-domain.jsonl").exists()  # untouched
    generate(parse_config(other), output, overwrite=True)
    assert not (output / "reasonembed" / "stale-domain.jsonl").exists()  # replaced, not mixed
    replaced = RunStats.read(output)
    assert replaced.config_hash != first.config_hash
    assert [run["run_id"] for run in replaced.llm_usage["runs"]] == [replaced.llm_usage["run_id"]]
    assert not (output / "report").exists() and not (output / "notes.md").exists()
    assert not list(tmp_path.glob(".out.*"))  # no staging or old folder left behind


def _open_run_files(config, barrier, results) -> None:
    """What each step process does when it loads: open the request cache or the seed gate."""
    barrier.wait()
    try:
        RequestCache(request_cache_path(config.cache_dir))
        SeedGate(pacing_file_of(config))
        results.put("ok")
    except sqlite3.OperationalError as error:
        results.put(str(error))


def test_the_run_creates_its_sqlite_files_before_the_steps_open_them_at_once(tmp_path, monkeypatch):
    # six processes opening a new SQLite file at once failed "database is locked" in about one
    # trial in eight; start_llm_run creates the files first (20 trials: a regression shows)
    monkeypatch.delenv(RUN_ID_ENV, raising=False)  # start_llm_run sets it; restored after
    fork = multiprocessing.get_context("fork")
    corpus = write_corpus(tmp_path)
    for trial in range(20):
        config = parse_config(tiny_config(corpus, tmp_path / f"cache-{trial}"))
        start_llm_run(config)
        barrier, results = fork.Barrier(6), fork.Queue()
        processes = [
            fork.Process(target=_open_run_files, args=(config, barrier, results)) for _ in range(6)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get(timeout=60) for _ in processes]
        for process in processes:
            process.join()
        assert outcomes == ["ok"] * 6, (trial, outcomes)


def test_carry_over_rewrites_the_report_and_keeps_what_else_was_added(tmp_path):
    earlier = write_output(tmp_path / "out", validation=True)
    (earlier / "notes.md").write_text("my notes\n")
    (earlier / ".report.partial-1").mkdir()  # a killed report's leftover: not carried
    staging = tmp_path / "staging"
    staging.mkdir()
    for name in GENERATED_ENTRIES:  # what the new run wrote
        if (earlier / name).is_dir():
            shutil.copytree(earlier / name, staging / name)
        elif (earlier / name).exists():
            shutil.copy2(earlier / name, staging / name)

    assert carry_over(earlier, staging) == (["report/"], ["notes.md", "validation/"])
    for name in ("index.html", "report.md"):  # written by `reasonembed report`'s code
        rewritten = (staging / "report" / name).read_text()
        assert rewritten != (earlier / "report" / name).read_text()  # not the stand-ins
    assert (staging / "report" / "funnel.png").is_file()
    kept = staging / "validation" / "validation.json"
    assert kept.stat().st_ino == (earlier / "validation" / "validation.json").stat().st_ino
    assert not (staging / ".report.partial-1").exists()

    # a report that cannot be rewritten (here: no raw data) is kept as it was
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy2(earlier / "stats.json", again / "stats.json")
    assert carry_over(earlier, again) == ([], ["notes.md", "report/", "validation/"])
    assert (again / "report" / "report.md").read_text() == (
        earlier / "report/report.md"
    ).read_text()


def test_llm_usage_sums_the_runs_of_a_folder_an_older_record_included():
    older = {  # a stats.json written before runs were listed
        "run_id": "r1",
        "stages": {
            "query": {
                "role": "generator",
                "models": ["m"],
                "calls": 1,
                "requests": 2,
                "cached": 0,
                "retries": 1,
                "failed": 0,
                "deferred": 0,
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "cost_usd": 0.5,
            }
        },
        "roles": {},
        "total": {"requests": 2},
    }
    report = {
        "run_id": "r2",
        "stages": {
            "query": {
                "role": "generator",
                "models": ["m"],
                "calls": 1,
                "requests": 0,
                "cached": 1,
                "retries": 0,
                "failed": 0,
                "deferred": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "cost_usd": 0.0,
            }
        },
        "roles": {},
        "total": {"requests": 0, "cached": 1},
    }
    run = run_entry(report, {"query": 2, "annotation": 4}, "2026-12-04T18:00:00+00:00")
    assert run["stages"]["query"]["step_cache"] == 1  # 2 answers written, 1 from the ledger
    assert run["stages"]["annotation"] == {"role": "annotator", "models": [], "step_cache": 4}
    assert run["total"]["step_cache"] == 5
    usage = fold_usage(older, run)
    assert [entry["run_id"] for entry in usage["runs"]] == ["r1", "r2"]
    assert usage["runs"][0]["started_at"] is None
    assert usage["run_id"] == "r2" and set(usage["stages"]) == {"query"}
    query = usage["stages"]["query"]
    assert (query["requests"], query["cached"], query["retries"], query["cost_usd"]) == (
        2,
        1,
        1,
        0.5,
    )
    assert usage["roles"]["generator"]["prompt_tokens"] == usage["total"]["prompt_tokens"] == 10
    assert fold_usage(usage, run)["runs"][:2] == usage["runs"]  # a listed record is extended
    assert fold_usage(None, run)["total"] == fold_usage({}, run)["total"]


def test_killed_runs_enter_the_record_once_and_never_as_the_run_itself(tmp_path):
    """The running marker chains the runs that never finished; the next run's record lists each
    once with `finished: false`, but not one that had its own id (both given one
    REASONEMBED_RUN_ID): those ledger rows are already its own (counted twice before)."""
    from reasonembed.factory.run_state import _killed_run_entries
    from reasonembed.llms.base import Completion
    from reasonembed.llms.usage import UsageLedger

    ledger_path = tmp_path / "requests.sqlite"
    ledger = UsageLedger(ledger_path)
    ledger.record("killed", "query", "m", [Completion("q", 10, 5)])
    ledger.record("now", "query", "m", [Completion("q", 10, 5), Completion("r", 10, 5)])
    marker = tmp_path / "running.json"
    chain = [{"run_id": name, "started_at": None} for name in ("killed", "now", "killed")]
    marker.write_text(json.dumps({"run_id": "now", "unfinished_runs": chain}))
    (entry,) = _killed_run_entries(ledger_path, marker, "now")
    assert entry["run_id"] == "killed" and entry["finished"] is False
    assert entry["total"]["requests"] == 1 and entry["total"]["prompt_tokens"] == 10
