"""`reasonembed report DIR` on hand-made generate output folders."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from reasonembed.cli import main
from reasonembed.errors import UserError
from reasonembed.quality.decontamination import words
from reasonembed.quality.report import PLOT_FILES, write_report
from reasonembed.records import RAW_SCHEMA
from tests.quality.fixtures import OTHER_TEXTS, SOURCE, candidate, make_output_folder, sample


def test_report_writes_markdown_and_readable_plots(tmp_path):
    folder = make_output_folder(tmp_path / "out", n_samples=60)
    assert main(["report", str(folder)]) == 0
    report = folder / "report" / "report.md"
    text = report.read_text()
    assert "| seeds | 100 | - |" in text
    assert "| mined | 75 | bright_query_contamination: 3, source_copy: 12 |" in text
    assert "| no_positive | 15 |" in text
    assert "| samples | domains |" in text and "| 60 | 3 |" in text
    assert "| bright_gold_candidates | 1 |" in text
    for name in PLOT_FILES:
        assert f"]({name})" in text
        with Image.open(folder / "report" / name) as image:
            assert image.format == "PNG" and image.width >= 600 and image.height >= 300


def test_report_on_a_plain_raw_config_computes_copy_metrics(tmp_path):
    rows = [
        sample(
            "Why would a plant in dim light grow slowly?", [candidate("p", OTHER_TEXTS[0], 1, 4)]
        ),
        sample("Explain: " + SOURCE, [candidate("n", OTHER_TEXTS[1], 1, 1)], domain="economics"),
    ]
    (tmp_path / "raw").mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=RAW_SCHEMA), tmp_path / "raw" / "train-00000-of-00001.parquet")  # fmt: skip
    report = write_report(tmp_path, tmp_path / "elsewhere")
    text = report.read_text()
    assert "stats.json has no `funnel` section." in text
    line = next(line for line in text.splitlines() if "`triviality_source_copy_share`" in line)
    copied = len(" ".join(words(SOURCE))) / len(" ".join(words("Explain: " + SOURCE)))
    assert line.split("|")[2].strip() == "2" and line.split("|")[-2].strip() == f"{copied:.3g}"
    assert sorted(path.name for path in (tmp_path / "elsewhere").glob("*.png")) == sorted(
        PLOT_FILES
    )


def test_report_errors_name_the_folder(tmp_path):
    with pytest.raises(UserError, match="no raw parquet files under"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path / "missing")]) == 1
    folder = make_output_folder(tmp_path / "out", n_samples=6)
    (folder / "stats.json").write_text("{not json")
    with pytest.raises(UserError, match="stats.json is not valid JSON"):
        write_report(folder)
