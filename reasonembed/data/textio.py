"""Strict UTF-8 decoding of the files users hand to the factory (configs, corpora, run files).

A byte that is not valid UTF-8 is reported as one line naming the file, the line and the byte
offset from the start of the file (`UserError`), never as a bare `UnicodeDecodeError`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from reasonembed.errors import UserError


def utf8_error(where: str, line: int, offset: int, error: UnicodeDecodeError) -> UserError:
    """The one-line error for a bad byte at `offset` (from the start of the file) on `line`."""
    bad = error.object[error.start : error.start + 1]
    byte = f"byte 0x{bad[0]:02x}" if bad else "truncated sequence"
    return UserError(
        f"{where}: line {line}, byte offset {offset}: not valid UTF-8 ({byte}); "
        "re-encode the file as UTF-8"
    )


def decode_utf8(data: bytes, where: str, line: int = 1, offset: int = 0) -> str:
    """`data` decoded strictly; `line`/`offset`: where `data` starts in its file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line += data.count(b"\n", 0, error.start)
        raise utf8_error(where, line, offset + error.start, error) from None


def read_utf8(path: str | Path, what: str = "file") -> str:
    """The text of `path`, decoded strictly (a leading byte-order mark is dropped)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UserError(f"{path}: cannot read {what}: {error.strerror or error}") from None
    text = decode_utf8(data, str(path))
    return text.removeprefix("\ufeff")


def nonblank_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line of `path`, decoded strictly line by line (a
    leading byte-order mark is dropped); memory: one line."""
    offset = 0
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            text = decode_utf8(raw, str(path), number, offset)
            offset += len(raw)
            if number == 1:
                text = text.removeprefix("\ufeff")
            if text.strip():
                yield number, text


def json_object_lines(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) of each non-blank line of a JSONL file; a line that is not a JSON
    object is a UserError naming the file and the line."""
    for number, line in nonblank_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{path}: line {number}: invalid JSON: {error}") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}: line {number}: expected a JSON object")
        yield number, record
