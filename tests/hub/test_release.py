"""Releases against the loopback Hub with the real huggingface_hub and datasets clients."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest
from huggingface_hub import HfApi, snapshot_download

from reasonembed.cli import main
from reasonembed.data.output_folder import OutputFolder, config_glob
from reasonembed.data.records import CONFIG_FILE, PIPELINE_FILE, QUARANTINE_FILE, STATS_FILE
from reasonembed.errors import UserError
from reasonembed.hub.release import publish
from reasonembed.quality.audit_sample import write_audit_sample
from reasonembed.quality.audit_score import write_audit_score
from tests.support.audit_reviews import write_reviews
from tests.support.factory_output import write_output

REPO = "org/remixer-test"


def _refs(repo: str = REPO) -> tuple[str, dict[str, str]]:
    refs = HfApi().list_repo_refs(repo, repo_type="dataset")
    main_head = next(ref.target_commit for ref in refs.branches if ref.name == "main")
    return main_head, {ref.name: ref.target_commit for ref in refs.tags}


def _st_rows(folder) -> list[dict]:
    files = OutputFolder(folder).config_files("sentence-transformers")
    return [row for path in files for row in pq.read_table(path).to_pylist()]


def test_two_versions_are_pinned_by_tag(hub_server, tmp_path):
    first = write_output(tmp_path / "v1", validation=True)
    second = write_output(tmp_path / "v2", domains={"biology": 4, "economics": 2}, revision=2)
    release_1 = publish(first, REPO, "1.0.0")
    release_2 = publish(second, REPO, "1.1.0")

    main_head, tags = _refs()
    assert tags == {"v1.0.0": release_1.commit_oid, "v1.1.0": release_2.commit_oid}
    assert main_head == release_2.commit_oid
    # one commit per release on top of the repository's initial commit
    history = HfApi().list_repo_commits(REPO, repo_type="dataset")
    assert [commit.title for commit in history] == [
        "Release v1.1.0",
        "Release v1.0.0",
        "initial commit",
    ]

    # each tag holds exactly its release (leetcode files of 1.0.0 are gone from 1.1.0)
    for release in (release_1, release_2):
        files = HfApi().list_repo_files(REPO, repo_type="dataset", revision=release.tag)
        assert sorted(files) == sorted(release.files + [".gitattributes"])
    assert "reasonembed/leetcode.jsonl" in release_1.files
    assert "reasonembed/leetcode.jsonl" not in release_2.files

    old = datasets.load_dataset(REPO, "sentence-transformers", revision="v1.0.0", split="train")
    new = datasets.load_dataset(REPO, "sentence-transformers", revision="v1.1.0", split="train")
    assert old.to_list() == _st_rows(first)
    assert new.to_list() == _st_rows(second)
    assert old.num_rows == 10 and new.num_rows == 12  # one row per (query, positive)

    raw = datasets.load_dataset(REPO, "raw", revision="v1.0.0", split="train")
    assert sorted(raw["domain"]) == ["biology"] * 3 + ["leetcode"] * 2
    flag = datasets.load_dataset(
        "json", data_files=f"hf://datasets/{REPO}@v1.1.0/flagembedding/*.jsonl", split="train"
    )
    assert flag.num_rows == 6 and flag.column_names == [
        "query",
        "pos",
        "neg",
        "pos_scores",
        "neg_scores",
        "prompt",
        "type",
    ]

    readme = HfApi().hf_hub_download(
        REPO, "README.md", repo_type="dataset", revision="v1.1.0", cache_dir=tmp_path / "c"
    )
    text = open(readme, encoding="utf-8").read()
    assert "Changes since 1.0.0:" in text
    assert "domain biology: 3 -> 4 samples (+1)" in text
    assert "domain leetcode removed (had 2 samples)" in text
    assert release_2.previous_version == "1.0.0"


def test_republishing_a_version_is_refused_before_any_upload(hub_server, tmp_path):
    folder = write_output(tmp_path / "out")
    publish(folder, REPO, "1.0.0")
    before = _refs()
    blobs = hub_server.stored_files()
    log_size = len(hub_server.request_log)

    changed = write_output(tmp_path / "changed", revision=3)
    with pytest.raises(
        UserError, match=r"tag v1\.0\.0 already exists .* publish a new version \(e\.g\. 1\.0\.1\)"
    ):
        publish(changed, REPO, "1.0.0")

    assert _refs() == before
    assert hub_server.stored_files() == blobs
    later = [path for _, path in hub_server.request_log[log_size:]]
    assert not any("/preupload/" in path or "/commit/" in path or "lfs" in path for path in later)
    # the CLI reports the same refusal as one error line and exit status 1
    assert main(["publish", str(changed), "--repo-id", REPO, "--version", "1.0.0"]) == 1


def test_rejected_commit_leaves_previous_release_untouched(hub_server, tmp_path):
    first = write_output(tmp_path / "v1")
    publish(first, REPO, "1.0.0")
    before = _refs()
    second = write_output(tmp_path / "v2", domains={"biology": 2, "economics": 3}, revision=2)

    hub_server.fail_next_commit_after = 4  # the Hub dies after reading 4 operation lines
    with pytest.raises(UserError, match=r"rejected the release commit .* main is still"):
        publish(second, REPO, "1.1.0")

    assert _refs() == before
    assert "v1.1.0" not in before[1]
    rows = datasets.load_dataset(
        REPO, "sentence-transformers", revision="v1.0.0", split="train"
    ).to_list()
    assert rows == _st_rows(first)
    main_files = HfApi().list_repo_files(REPO, repo_type="dataset", revision="main")
    assert (
        "reasonembed/leetcode.jsonl" in main_files
        and "reasonembed/economics.jsonl" not in main_files
    )

    # a plain re-run then publishes the release
    release = publish(second, REPO, "1.1.0")
    assert _refs()[1]["v1.1.0"] == release.commit_oid


def test_failed_tag_is_completed_by_a_rerun(hub_server, tmp_path):
    folder = write_output(tmp_path / "out")
    hub_server.fail_next_tag = True
    with pytest.raises(UserError, match="re-run the same command to tag it"):
        publish(folder, REPO, "1.0.0")
    head = _refs()[0]
    release = publish(folder, REPO, "1.0.0")
    assert release.commit_oid == head  # no second commit: the existing release commit is tagged
    assert _refs() == (head, {"v1.0.0": head})


def test_dry_run_writes_the_exact_tree(hub_server, tmp_path):
    folder = write_output(tmp_path / "out", validation=True)
    dry = publish(folder, REPO, "1.0.0", dry_run=True, dry_run_dir=tmp_path / "tree")
    assert dry.commit_oid is None
    assert not _exists(REPO)  # a dry run creates nothing on the Hub

    real = publish(folder, REPO, "1.0.0")
    snapshot = snapshot_download(
        REPO, repo_type="dataset", revision="v1.0.0", cache_dir=tmp_path / "snap"
    )
    local = {
        p.relative_to(tmp_path / "tree").as_posix(): p.read_bytes()
        for p in (tmp_path / "tree").rglob("*")
        if p.is_file()
    }
    remote = {
        p.relative_to(snapshot).as_posix(): p.read_bytes()
        for p in Path(snapshot).rglob("*")
        if p.is_file()
    }
    remote.pop(".gitattributes")
    assert sorted(local) == sorted(real.files) == sorted(dry.files)
    assert local == remote
    assert QUARANTINE_FILE not in local

    with pytest.raises(UserError, match="not empty"):
        publish(folder, REPO, "1.0.1", dry_run=True, dry_run_dir=tmp_path / "tree")


def _exists(repo: str) -> bool:
    return HfApi().repo_exists(repo, repo_type="dataset")


def test_token_is_never_written(hub_server, tmp_path, caplog, capsys, monkeypatch):
    caplog.set_level(logging.DEBUG)
    # -v shows every debug line here, the HTTP clients' per-request lines included (the CLI
    # quiets them, and an earlier command in this process may already have)
    from reasonembed import logs

    for name in logs.QUIET_LOGGERS:
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    logging.getLogger().manager._clear_cache()
    monkeypatch.setattr(logs, "QUIET_LOGGERS", ())
    token = hub_server.token
    folder = write_output(tmp_path / "out", validation=True)
    assert (
        main(["-v", "publish", str(folder), "--repo-id", REPO, "--version", "1.0.0", "--private"])
        == 0
    )
    assert (
        main(
            [
                "publish",
                str(folder),
                "--repo-id",
                REPO,
                "--version",
                "1.0.1",
                "--dry-run",
                "--dry-run-dir",
                str(tmp_path / "tree"),
            ]
        )
        == 0
    )
    assert hub_server.authorized_requests > 0  # the token from HF_TOKEN was really used
    assert hub_server.repos[("dataset", REPO)].private

    needle = token.encode()
    uploaded = hub_server.stored_files()
    assert len(uploaded) >= 15
    for path in uploaded + [p for p in (tmp_path / "tree").rglob("*") if p.is_file()]:
        assert needle not in path.read_bytes(), path
    captured = capsys.readouterr()
    assert token not in captured.out + captured.err
    assert token not in caplog.text
    assert "HTTP Request: POST" in caplog.text  # the clients' debug logs were captured


def test_token_in_a_published_file_is_refused(hub_server, tmp_path):
    folder = write_output(tmp_path / "out")
    (folder / PIPELINE_FILE).write_text(f"api_key: {hub_server.token}\n")
    with pytest.raises(UserError, match="pipeline.yaml contains your Hugging Face token"):
        publish(folder, REPO, "1.0.0")
    assert not _exists(REPO)  # refused before the repository was even created


def test_missing_or_wrong_token_is_a_clear_error(hub_server, tmp_path, monkeypatch):
    folder = write_output(tmp_path / "out")
    monkeypatch.setenv("HF_TOKEN", "hf_wrong")
    with pytest.raises(UserError, match="set HF_TOKEN or run `hf auth login`") as raised:
        publish(folder, REPO, "1.0.0")
    assert "hf_wrong" not in str(raised.value)


@pytest.mark.parametrize("version", ["1.0", "v1.0.0", "1.0.0-rc1", "01.0.0"])
def test_bad_version_is_refused(tmp_path, version):
    with pytest.raises(UserError, match="expected X.Y.Z"):
        publish(write_output(tmp_path / "out"), REPO, version, dry_run=True)


def test_folder_without_configs_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no dataset config found"):
        publish(tmp_path / "empty", REPO, "1.0.0", dry_run=True)
    with pytest.raises(UserError, match="expected ORG/NAME"):
        publish(tmp_path / "empty", "no-slash", "1.0.0", dry_run=True)


@pytest.mark.parametrize(
    "remove, named",
    [
        (STATS_FILE, STATS_FILE),
        (CONFIG_FILE, CONFIG_FILE),
        ("flagembedding", config_glob("flagembedding")),
    ],
)
def test_incomplete_folder_is_refused_naming_what_is_missing(tmp_path, remove, named):
    folder = write_output(tmp_path / "out")
    target = folder / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(UserError) as raised:
        publish(folder, REPO, "1.0.0", dry_run=True, dry_run_dir=tmp_path / "tree")
    assert str(raised.value).startswith(f"{folder}: incomplete output folder, missing {named}:")
    assert not (tmp_path / "tree").exists()


def test_publish_cli_without_stats_is_one_line_and_writes_nothing(tmp_path):
    folder = write_output(tmp_path / "out")
    OutputFolder(folder).stats_path.unlink()
    result = subprocess.run(
        [sys.executable, "-m", "reasonembed.cli", "publish", str(folder), "--repo-id", REPO]
        + ["--version", "1.0.0", "--dry-run", "--dry-run-dir", str(tmp_path / "tree")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and " ERROR " in lines[0], result.stderr
    assert "missing stats.json" in lines[0]
    assert not (tmp_path / "tree").exists()


def _audited(folder: Path, downloads: Path) -> Path:
    """`audit sample` + two reviews (the page's exports, left in DIR/audit/ too) + `audit score`."""
    write_audit_sample(folder, 12, seed=5)
    reviews = write_reviews(folder, downloads, alice={}, bob={"disagree_every": 3})
    for review in reviews:
        shutil.copy(review, folder / "audit" / review.name)
    write_audit_score(folder, reviews)
    return folder


def test_a_release_ships_the_audit_score_and_the_card_reports_it(hub_server, tmp_path):
    plain = publish(write_output(tmp_path / "v1"), REPO, "1.0.0")
    assert not any(path.startswith("audit/") for path in plain.files)

    folder = _audited(write_output(tmp_path / "v2", revision=2), tmp_path / "downloads")
    release = publish(folder, REPO, "1.1.0")
    # the score ships; the sample and the review files (reviewers' raw marks) stay local
    assert [path for path in release.files if path.startswith("audit/")] == [
        "audit/score.json",
        "audit/score.md",
    ]
    files = HfApi().list_repo_files(REPO, repo_type="dataset", revision="v1.1.0")
    assert "audit/score.json" in files and "audit/sample.json" not in files
    score_path = HfApi().hf_hub_download(
        REPO, "audit/score.json", repo_type="dataset", revision="v1.1.0", cache_dir=tmp_path / "c"
    )
    score = json.loads(Path(score_path).read_text())
    assert score == json.loads((folder / "audit" / "score.json").read_text())
    readme = HfApi().hf_hub_download(
        REPO, "README.md", repo_type="dataset", revision="v1.1.0", cache_dir=tmp_path / "c"
    )
    text = Path(readme).read_text(encoding="utf-8")
    overall = score["overall"]
    assert (
        f"**The judge agreed with human review on {overall['agreed']} of {overall['pairs']} "
        "pairs**" in text
    )
    assert "human audit: none -> agreed with human review on" in text  # changelog vs 1.0.0
    manifest = HfApi().hf_hub_download(
        REPO, "release.json", repo_type="dataset", revision="v1.1.0", cache_dir=tmp_path / "c"
    )
    assert json.loads(Path(manifest).read_text())["audit"] == score
    first = HfApi().hf_hub_download(
        REPO, "README.md", repo_type="dataset", revision="v1.0.0", cache_dir=tmp_path / "c"
    )
    assert "human review" not in Path(first).read_text(encoding="utf-8").lower()


def test_an_audit_of_other_data_is_refused_before_any_upload(hub_server, tmp_path):
    folder = _audited(write_output(tmp_path / "out", revision=1), tmp_path / "downloads")
    regenerated = write_output(tmp_path / "regenerated", revision=2)
    shutil.copytree(folder / "audit", regenerated / "audit")  # a score left from older data
    log_size = len(hub_server.request_log)
    with pytest.raises(UserError, match=r"audit/score.json: an audit of config hash"):
        publish(regenerated, REPO, "1.0.0")
    assert hub_server.request_log[log_size:] == []
