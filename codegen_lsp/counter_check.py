"""What a saved acceptance counter file may hold: counts that are non-negative integers, under keys of three strings,
per ISO day. Anything else in the file (a hand edit, a crash mid-write on a file system without atomic rename, a
future version) is dropped entry by entry, never taken as it is."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Any

Key = tuple[str, str, str]  # (mode, language, engine)
COUNTER_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def read_counters(data: Any) -> tuple[dict[str, dict[Key, Counter]], list[str]]:
    """The counters of a counter file's JSON, and what was left out: a count must be a non-negative integer (not a
    string, an object, a fraction, a negative number or true), a key three strings, a day an ISO date. Each bad
    entry is dropped alone; the rest of the file is kept."""
    days: dict[str, dict[Key, Counter]] = {}
    dropped: list[str] = []
    stored = data.get("days") if isinstance(data, dict) else None
    if not isinstance(stored, dict):
        if data:
            dropped.append("no table of days")
        return days, dropped
    for day, rows in stored.items():
        if not (is_iso_day(day) and isinstance(rows, list)):
            dropped.append("a day that is not a date with a list of rows")
            continue
        for row in rows:
            key = row.get("key") if isinstance(row, dict) else None
            counts = row.get("counts") if isinstance(row, dict) else None
            if not (isinstance(key, list) and len(key) == 3 and all(isinstance(k, str) for k in key)):
                dropped.append("a row whose key is not three strings")
                continue
            if not isinstance(counts, dict):
                dropped.append("a row whose counts are not an object")
                continue
            kept = days.setdefault(day, {}).setdefault(tuple(key), Counter())
            for name, value in counts.items():
                if not (isinstance(name, str) and COUNTER_NAME.fullmatch(name)):
                    dropped.append("a counter with a bad name")
                elif not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                    dropped.append(f"{name} is not a non-negative integer")
                else:
                    kept[name] += value
    return days, dropped


def is_iso_day(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False
