"""The report page's Audit view (reasonembed.quality.browse + audit_sample): the audit queue in the
page, and a real headless Chromium driven through the DevTools protocol (tests/support/cdp.py)
that marks pairs with the keyboard, reloads, exports the review and scores it with
`reasonembed audit score`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reasonembed.data.domains import BRIGHT_DOMAINS
from reasonembed.data.output_folder import OutputFolder
from reasonembed.quality.audit_sample import read_audit_sample, write_audit_sample
from reasonembed.quality.browse import write_browser
from reasonembed.quality.browse_sample import TEXT_CAPS
from reasonembed.quality.report import write_report
from tests.quality.test_browse import needs_chromium, page_data
from tests.support.cdp import Chromium
from tests.support.factory_output import annotated_row, write_output

REPO = Path(__file__).resolve().parents[2]
XSS_QUERY = "Why does <img src=x onerror=window.__xss=1> grow in dim light?"
XSS_ANALYSIS = "judged </script><script>window.__xss=2;document.title='pwned'</script> relevant"
LONG_TEXT = "a long candidate passage about light. " * 60  # cut to TEXT_CAPS
N_PAIRS = 10


def page_rows() -> list[dict]:
    """2 domains x 6 kept samples, scores 5..1: 10 strata; biology queries and analyses hold
    markup, every first candidate is longer than the page's cap."""
    rows = []
    for domain in ("biology", "leetcode"):
        for index in range(6):
            row = annotated_row(domain, index, revision=1, scores=[5, 4, 3, 2, 1])
            row["candidates"][0]["text"] = LONG_TEXT
            if domain == "biology":
                row["query"] = f"{XSS_QUERY} ({index})"
                for candidate in row["candidates"]:
                    candidate["relevance_analysis"] = XSS_ANALYSIS
            rows.append(row)
    return rows


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The output folder with report/index.html written with browse limit 1 (so most audit
    pairs' queries are not among the browsed ones), then the audit sample (which writes the
    page again, with the queue)."""
    out = tmp_path_factory.mktemp("audit-page") / "out"
    write_output(out, domains={"biology": 6, "leetcode": 6}, rows=page_rows())
    write_browser(out, OutputFolder(out).report_dir, browse_limit=1)
    write_audit_sample(out, N_PAIRS, seed=3)
    return out


@pytest.fixture(scope="module")
def page(folder) -> Path:
    return OutputFolder(folder).report_dir / "index.html"


@pytest.fixture(scope="module")
def sample(folder) -> dict:
    return read_audit_sample(folder)


def raw_rows(folder: Path) -> dict[str, dict]:
    return {
        row["sample_id"]: row
        for path in OutputFolder(folder).raw_files()
        for row in pq.read_table(path).to_pylist()
    }


def test_page_embeds_every_audit_pair_with_its_texts(folder, page, sample):
    data = page_data(page)
    assert len(data["items"]) == 2  # browse limit 1 per domain, kept from the earlier page
    audit = data["audit"]
    for key in ("config_hash", "seed", "sample_digest", "positive_threshold"):
        assert audit[key] == sample[key]
    assert audit["review_format"] == "reasonembed-audit-review/1"
    # the reviewer reads the rule the annotator was given (built-in domains here)
    assert audit["definitions"] == {
        name: BRIGHT_DOMAINS[name].relevance_definition for name in ("biology", "leetcode")
    }
    browsed = {item["id"] for item in data["items"]}
    assert len({p["sample_id"] for p in sample["pairs"]} - browsed) >= 5
    rows = raw_rows(folder)
    assert [p["pair_id"] for p in audit["pairs"]] == [p["pair_id"] for p in sample["pairs"]]
    for pair in audit["pairs"]:
        row = rows[pair["sample_id"]]
        (candidate,) = [c for c in row["candidates"] if c["doc_id"] == pair["doc_id"]]
        assert pair["found"] and pair["llm_score"] == candidate["relevance_score"]
        cap = TEXT_CAPS["candidate_text"]
        assert pair["text"] == candidate["text"][:cap]
        assert pair["text_more"] == max(len(candidate["text"]) - cap, 0)
        assert pair["analysis"] == candidate["relevance_analysis"]
        query = audit["queries"][pair["sample_id"]]
        assert query["query"] == row["query"] and query["reasoning_query"] == row["reasoning_query"]
    assert any(pair["text_more"] > 0 for pair in audit["pairs"])
    text = page.read_text()
    assert f"Audit queue: {N_PAIRS} (query, candidate) pairs" in text
    assert "</script><script>window.__xss" not in text  # escaped inside the data script
    assert '<meta name="reasonembed-browse-limit" content="1">' in text


def test_report_embeds_the_queue_when_the_folder_has_one(folder, tmp_path, sample):
    copy = shutil.copytree(folder, tmp_path / "out")
    data = page_data(write_report(copy).parent / "index.html")
    assert data["audit"]["sample_digest"] == sample["sample_digest"]
    assert len(data["audit"]["pairs"]) == N_PAIRS
    os.remove(copy / "audit" / "sample.json")
    page = write_report(copy).parent / "index.html"
    assert page_data(page)["audit"] is None and "Audit queue" not in page.read_text()


def test_audit_texts_count_against_the_data_budget(folder, tmp_path, sample):
    budget = 30_000
    page = write_browser(folder, tmp_path / "report", max_data_bytes=budget, audit=sample)
    data = page_data(page)
    assert len(data["audit"]["pairs"]) == N_PAIRS
    assert len(json.dumps(data, ensure_ascii=False, separators=(",", ":"))) < budget
    assert len(data["items"]) < 12 and "of it the audit queue" in page.read_text()


# --- in Chromium --------------------------------------------------------------------------
def marks_shown(browser: Chromium) -> list[str]:
    return browser.evaluate(
        "Array.from(document.querySelectorAll('#audit-list .audit-pair'))"
        ".map(function (li) { return li.dataset.mark; })"
    )


def text_of(browser: Chromium, selector: str) -> str:
    return browser.evaluate(f"document.querySelector({json.dumps(selector)}).textContent")


def current_index(browser: Chromium) -> int:
    return browser.evaluate(
        "Array.from(document.querySelectorAll('#audit-list .audit-pair'))"
        ".findIndex(function (li) { return li.classList.contains('current'); })"
    )


def type_reviewer(browser: Chromium, name: str) -> None:
    browser.evaluate("document.getElementById('audit-reviewer').focus()")
    browser.type_text(name)
    browser.press("Escape")  # leaves the field: the shortcuts act again


def export(browser: Chromium, downloads: Path) -> dict:
    browser.evaluate("document.getElementById('audit-export').click()")
    return json.loads(browser.wait_for_download("review-*.json").read_text())


@needs_chromium
def test_keyboard_marks_survive_a_reload_and_export_as_the_review(page, sample, tmp_path):
    downloads = tmp_path / "downloads"
    ids = [pair["pair_id"] for pair in sample["pairs"]]
    with Chromium(tmp_path / "profile", downloads=downloads) as browser:
        browser.open(page.as_uri() + "#view=audit")
        assert browser.evaluate("document.getElementById('browser').hidden") is True
        assert text_of(browser, "#audit-progress") == f"0 of {N_PAIRS} marked"
        for key in ("r", "n", "u", "ArrowDown", "j", "r", "k", "ArrowUp", "n", "x"):
            browser.press(key)
        # r/n/u mark and move on; ArrowDown/j next; k/ArrowUp back; x clears the current mark
        expected = {ids[0]: "relevant", ids[1]: "not_relevant", ids[2]: "unsure"}
        expected[ids[4]] = "not_relevant"
        assert marks_shown(browser) == [expected.get(pair_id, "") for pair_id in ids]
        assert current_index(browser) == 5
        assert text_of(browser, "#audit-progress") == f"4 of {N_PAIRS} marked"
        assert text_of(browser, "#audit-counts") == "(1 relevant, 2 not relevant, 1 unsure)"
        type_reviewer(browser, "Ann Lee")  # its n and e are typed, not taken as marks
        assert text_of(browser, "#audit-progress") == f"4 of {N_PAIRS} marked"

        browser.reload()
        assert marks_shown(browser) == [expected.get(pair_id, "") for pair_id in ids]
        assert browser.evaluate("document.getElementById('audit-reviewer').value") == "Ann Lee"
        assert current_index(browser) == 5
        assert text_of(browser, "#audit-tab-progress") == f"4 of {N_PAIRS}"

        # texts stay text: the markup in queries and analyses is shown, never run
        biology = [i for i, pair in enumerate(sample["pairs"]) if pair["domain"] == "biology"]
        for _ in range(abs(biology[0] - 5)):
            browser.press("j" if biology[0] > 5 else "k")
        assert text_of(browser, ".audit-pair.current .audit-query").startswith(XSS_QUERY)
        analysis = text_of(browser, ".audit-pair.current .audit-analysis pre")
        assert analysis == XSS_ANALYSIS
        assert browser.evaluate("window.__xss === undefined && document.title !== 'pwned'")
        assert browser.evaluate("document.querySelectorAll('#audit img').length") == 0

        review = export(browser, downloads)
        (file,) = downloads.glob("review-*.json")
        assert file.name == f"review-Ann_Lee-{sample['sample_digest'][:8]}.json"
        assert text_of(browser, "#audit-status").startswith(f"Exported {file.name}")
    assert review.pop("exported_at").endswith("Z")
    assert review == {
        "format": "reasonembed-audit-review/1",
        "config_hash": sample["config_hash"],
        "seed": 3,
        "sample_digest": sample["sample_digest"],
        "reviewer": "Ann Lee",
        "marks": expected,
    }


@needs_chromium
def test_shortcuts_act_only_in_the_audit_view_and_export_needs_a_name(page, tmp_path):
    downloads = tmp_path / "downloads"
    with Chromium(tmp_path / "profile", downloads=downloads) as browser:
        browser.open(page.as_uri())
        assert browser.evaluate("document.getElementById('audit').hidden") is True
        browser.press("r")
        browser.press("j")
        assert text_of(browser, "#audit-tab-progress") == f"0 of {N_PAIRS}"
        browser.evaluate("document.getElementById('view-audit').click()")
        assert browser.evaluate("location.hash") == "#view=audit"
        assert current_index(browser) == 0
        browser.evaluate("document.getElementById('audit-export').click()")
        assert "Enter your name first" in text_of(browser, "#audit-status")
        assert browser.evaluate("document.activeElement.id") == "audit-reviewer"
        browser.press("r")  # typed into the name field, not a mark
        assert marks_shown(browser) == [""] * N_PAIRS
    assert not list(downloads.glob("*"))


@needs_chromium
def test_the_exported_review_scores_with_audit_score(folder, page, sample, tmp_path):
    """Marks typed by the judge's label except two flips, one unsure and two left unmarked:
    `reasonembed audit score` agrees on 5 of 7 compared pairs."""
    downloads = tmp_path / "downloads"
    threshold = sample["positive_threshold"]
    with Chromium(tmp_path / "profile", downloads=downloads) as browser:
        browser.open(page.as_uri() + "#view=audit")
        type_reviewer(browser, "alice")
        for index, pair in enumerate(sample["pairs"][: N_PAIRS - 2]):
            judge = pair["llm_score"] >= threshold
            human = judge != (index in (0, 3))
            browser.press("u" if index == 5 else "r" if human else "n")
        review = export(browser, downloads)
    assert len(review["marks"]) == N_PAIRS - 2
    (file,) = downloads.glob("review-alice-*.json")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "reasonembed.cli", "audit", "score", str(folder), str(file)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    score = json.loads((folder / "audit" / "score.json").read_text())
    assert score["reviewers"] == ["alice"] and score["sample_digest"] == sample["sample_digest"]
    overall = score["overall"]
    assert (overall["pairs"], overall["agreed"], overall["unsure"], overall["unmarked"]) == (
        7, 5, 1, 2,
    )  # fmt: skip
    assert "agreed with human review on 5 of 7 pairs" in result.stderr + result.stdout
