"""Saved acceptance counters read back whatever the file holds (damaged entries left out with one log line), and
retention checks that follow docs/acceptance.md when a document is closed, or closed and reopened, before a check."""

from __future__ import annotations

import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types

from codegen_lsp.acceptance import AcceptanceTracker, CounterFile
from codegen_lsp.counter_check import read_counters

KEY = ["line", "python", "codegen"]
GOOD = {"version": 1, "days": {"2026-12-01": [{"key": KEY, "counts": {"shown": 4, "accepted": 2}}]}}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**12) | st.floats(allow_nan=False) | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
counts = st.dictionaries(st.sampled_from(["shown", "accepted", "kept_chars_30s", "Bad Name", ""]), json_values, max_size=4)
rows = st.lists(st.one_of(json_values, st.fixed_dictionaries({"key": st.one_of(st.just(KEY), json_values), "counts": counts})),
                max_size=3)  # fmt: skip
files = st.one_of(json_values, st.fixed_dictionaries(
    {"days": st.one_of(json_values, st.dictionaries(st.sampled_from(["2026-12-01", "2026-12-02", "yesterday"]), rows, max_size=2))}
))  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(files)
def test_any_file_content_reads_as_valid_counters_and_keeps_what_is_valid(data):
    days, dropped = read_counters(data)
    for day, table in days.items():
        assert len(day) == 10
        for key, counter in table.items():
            assert len(key) == 3 and all(isinstance(part, str) for part in key)
            assert all(type(value) is int and value >= 0 for value in counter.values())
    # Every valid count in the file is there; everything else is named in `dropped`.
    stored = data.get("days") if isinstance(data, dict) else None
    for day, day_rows in (stored or {}).items() if isinstance(stored, dict) else []:
        for row in day_rows if isinstance(day_rows, list) and day != "yesterday" else []:
            if isinstance(row, dict) and row.get("key") == KEY and isinstance(row.get("counts"), dict):
                for name, value in row["counts"].items():
                    if name in ("shown", "accepted", "kept_chars_30s") and type(value) is int and value >= 0:
                        assert days[day][tuple(KEY)][name] >= value
                    else:
                        assert dropped


def test_a_damaged_counter_file_is_read_with_one_log_line_and_stats_still_answer(tmp_path, caplog):
    damaged = {"days": {"2026-12-01": [{"key": KEY, "counts": {"shown": "4", "accepted": {"n": 1}, "offered": -3,
                                                                "accepted_chars": 2.5, "partial_chars": True, "kept_chars_30s": 7}}]}}  # fmt: skip
    path = tmp_path / "acceptance.json"
    path.write_text(json.dumps(damaged))
    tracker = AcceptanceTracker(clock=lambda: 0.0, wall_clock=lambda: 1796515200.0)
    with caplog.at_level(logging.WARNING):
        tracker.persist(path)
    lines = [r for r in caplog.records if "damaged" in r.getMessage()]
    assert len(lines) == 1 and "5 damaged entries" in lines[0].getMessage()
    saved = tracker.snapshot()["saved"]
    assert saved["kept_chars_30s"] == 7 and saved["shown"] == 0 and saved["offered"] == 0 and saved["accepted_chars"] == 0
    assert CounterFile(path).days["2026-12-01"][tuple(KEY)] == {"kept_chars_30s": 7}


def test_good_counters_read_back_unchanged(tmp_path):
    path = tmp_path / "acceptance.json"
    path.write_text(json.dumps(GOOD))
    assert CounterFile(path).days == {"2026-12-01": {tuple(KEY): {"shown": 4, "accepted": 2}}}


# -- retention when the document goes away ----------------------------------------------------------------------------
def accepted_piece(tracker: AcceptanceTracker, uri: str, text: str) -> None:
    [item] = tracker.offer(uri, text, len(text), types.Position(0, len(text)), ["return 1"], tuple(KEY))
    tracker.accepted(item)


def checked(tracker: AcceptanceTracker) -> int:
    return tracker.snapshot()["checked_chars_30s"]


def test_a_document_closed_and_reopened_with_other_text_before_the_check_is_left_out():
    now = [0.0]
    tracker = AcceptanceTracker(clock=lambda: now[0])
    accepted_piece(tracker, "file:///a.py", "x = ")
    tracker.closed("file:///a.py")
    now[0] = 31.0
    tracker.check_due(lambda uri: "something else entirely\n")  # reopened under the same URI with other text
    assert checked(tracker) == 0 and tracker.next_due() is None


def test_a_document_closed_before_the_check_is_left_out_and_others_are_still_checked():
    now = [0.0]
    tracker = AcceptanceTracker(clock=lambda: now[0])
    accepted_piece(tracker, "file:///a.py", "x = ")
    accepted_piece(tracker, "file:///b.py", "y = ")
    tracker.closed("file:///a.py")
    now[0] = 31.0
    texts = {"file:///b.py": "y = return 1"}
    tracker.check_due(texts.get)
    assert checked(tracker) == len("return 1")  # b's piece only
    assert tracker.snapshot()["kept_chars_30s"] == len("return 1")
