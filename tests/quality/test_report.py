"""`reasonembed report DIR` on output folders written by the factory's own writer."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from reasonembed.cli import main
from reasonembed.data.output_folder import OutputFolder
from reasonembed.errors import UserError
from reasonembed.quality.browse import BROWSER_FILE
from reasonembed.quality.report import PLOT_FILES, write_report
from tests.support.factory_output import write_output


def test_report_writes_markdown_plots_and_browser(tmp_path):
    folder = write_output(tmp_path / "out", domains={"biology": 3, "leetcode": 2})
    assert main(["report", str(folder), "--browse-limit", "5"]) == 0
    report_dir = OutputFolder(folder).report_dir
    report = report_dir / "report.md"
    text = report.read_text()
    # the funnel as the writer counted it: 2 domains x (samples + 1 dropped + 1 filtered) seeds
    assert "| seeds | 9 | seeds:drop:too_short: 2 |" in text
    assert "| queries | 7 | query_filter:drop:source_copy: 2 |" in text
    assert "| samples | 5 | assembly:drop:no_negative: 2 |" in text
    assert "0 queries, 2 judgements" in text
    assert "| 5 | 2 | 25 | 2 | 3 |" in text  # samples, domains, candidates, mean pos/neg
    assert "**Not run**: the config has no `bright:` setting" in text
    for name in PLOT_FILES:
        assert f"]({name})" in text
        with Image.open(report_dir / name) as image:
            assert image.format == "PNG" and image.width >= 600 and image.height >= 250
    page = (report_dir / BROWSER_FILE).read_text()  # tested in Chromium: test_browse.py
    assert "[r1] leetcode question 1" in page and "relevance_scores.png</figcaption>" in page


def test_report_agrees_with_stats_json(tmp_path):
    folder = write_output(tmp_path / "out", domains={"biology": 4})
    report = write_report(folder)
    stats = OutputFolder(folder).stats
    text = report.read_text()
    for stage in stats.funnel:
        assert f"| {stage.stage} | {stage.count:,} |" in text
    assert stats.samples == 4 and stats.quarantined.judgements == 1


def test_report_errors_name_the_folder(tmp_path):
    with pytest.raises(UserError, match="no raw parquet files under"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path / "missing")]) == 1
    folder = write_output(tmp_path / "out", domains={"biology": 2})
    stats = OutputFolder(folder).stats_path
    stats.write_text("{not json")
    with pytest.raises(UserError, match="stats.json: not valid JSON"):
        write_report(folder)
    stats.write_text(json.dumps({"samples": 2}))
    with pytest.raises(UserError, match="stats.json: not a stats.json of this reasonembed"):
        write_report(folder)
