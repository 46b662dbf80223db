"""TREC run files and the BRIGHT protocol on runs."""

import pytest

from reasonembed.errors import UserError
from reasonembed.eval.runs import Run, apply_protocol, read_trec_run, write_trec_run


def test_round_trip_keeps_doc_ids_with_spaces(tmp_path):
    run = Run.from_dict(
        {
            "biology/0": {"so/Memory Management_2_0.txt": 0.5, "b c d": 0.25},
            "pony/7": {"x": -1.5},
        }
    )
    path = tmp_path / "run.trec"
    write_trec_run(run, path, tag="sys")
    lines = path.read_text().splitlines()
    assert lines[0] == "biology/0 Q0 so/Memory Management_2_0.txt 1 0.5 sys"
    assert read_trec_run(path).to_dict() == run.to_dict()


def test_duplicate_pairs_and_malformed_lines_are_rejected(tmp_path):
    path = tmp_path / "dup.trec"
    path.write_text("q Q0 a 1 1.0 t\nq Q0 b 2 0.5 t\nq Q0 a 3 0.1 t\n")
    with pytest.raises(UserError, match="'a' appears 2 times for query 'q'"):
        read_trec_run(path)
    path.write_text("q Q0 a 1 high t\n")
    with pytest.raises(UserError, match="line 1: score 'high'"):
        read_trec_run(path)
    path.write_text("q Q0 a 1\n")
    with pytest.raises(UserError, match="line 1: expected"):
        read_trec_run(path)


def test_run_file_that_is_not_utf8_names_line_and_byte_offset(tmp_path):
    path = tmp_path / "run.trec"
    path.write_bytes(b"q1 Q0 doc-a 1 2.0 t\nq1 Q0 doc-\xe9 2 1.0 t\n")
    with pytest.raises(UserError) as error:
        read_trec_run(path)
    assert str(error.value) == (
        f"{path}: line 2, byte offset 30: not valid UTF-8 (byte 0xe9); re-encode the file as UTF-8"
    )


def test_eval_run_command_reports_it_in_one_line(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "run.trec"
    path.write_bytes(b"q1 Q0 doc-\xff 1 2.0 t\n")
    result = subprocess.run(
        [sys.executable, "-m", "reasonembed.cli", "eval-run", str(path), "--bright", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and f"{path}: line 1, byte offset 10: not valid UTF-8" in errors[0]


def test_protocol_removes_excluded_ids_skips_na_and_keeps_top_depth():
    run = Run.from_dict({"q": {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}, "r": {"a": 1.0}})
    kept = apply_protocol(run, {"q": ["a", "N/A"], "r": ["N/A"]}, depth=2).to_dict()
    # "a" excluded for q only; b and c tie, c (larger id) first; d falls past the depth.
    assert kept == {"q": {"c": 2.0, "b": 2.0}, "r": {"a": 1.0}}
    assert list(kept["q"]) == ["c", "b"]
