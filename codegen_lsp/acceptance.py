"""What the user kept of what was shown: shown, accepted and partially accepted suggestions, and how much of the
accepted text is still in the document 30 s and 2 min later. Local counters only; nothing leaves the machine.

How the editor tells us (the same messages Copilot's language server takes, so clients built for it work):
- every inline item carries a `command` (`ACCEPT_COMMAND`, arguments `[item id]`) that the client runs through
  `workspace/executeCommand` after the user accepted it whole (Tab);
- `textDocument/didShowCompletion {item}` when the item is on screen;
- `textDocument/didPartiallyAcceptCompletion {item, acceptedLength}`: the first `acceptedLength` UTF-16 code units
  of the item's insertText are in the document (accept next word / line).

A *suggestion* is one completion the model proposed; an *item* (a view) is the form it took in one answer. When the
user types the start of a suggestion (or takes a word of it) the next answer shows its rest: that item is a new view
of the same suggestion, so a suggestion typed through and then accepted counts once shown and once accepted.

Retention, as GitHub measures "accepted and kept characters": each accepted piece of text is followed through the
document's edits (its start and end move with didChange, in the negotiated position encoding). At each of
`RETENTION_DELAYS_S` after the accept, the text now between those ends is compared with the text accepted: the
characters of the accepted text still there, in order (difflib's matching blocks), are the kept characters. Texts are
held in memory only while an item can still be accepted or checked; counters are all that is ever written, and logs
carry ids and lengths, never text.
"""

from __future__ import annotations

import json
import logging
import os
import time
import weakref
from collections import Counter, OrderedDict
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable

from lsprotocol import types

from .acceptance_positions import Tracked, advance, kept_characters, move, utf16_prefix
from .counter_check import read_counters
from .lsp.documents import offset_at

log = logging.getLogger(__name__)

RETENTION_DELAYS_S = (30.0, 120.0)
MAX_VIEWS = 256  # items an editor may still accept or report (older ones are forgotten, with their text)
MAX_PIECES = 512  # accepted texts waiting for a retention check
SAVE_EVERY_S = 60.0
HISTORY_DAYS = 7

Key = tuple[str, str, str]  # (mode, language, engine): the one table every split is summed from


def delay_label(delay: float) -> str:
    return f"{int(delay)}s"


def counter_names(delays: Iterable[float] = RETENTION_DELAYS_S) -> tuple[str, ...]:
    names = ["offered", "shown", "accepted", "partially_accepted", "accepted_chars", "partial_chars"]
    for delay in delays:
        names += [f"checked_chars_{delay_label(delay)}", f"kept_chars_{delay_label(delay)}"]
    return tuple(names)


# -- what is remembered about suggestions, items and accepted text -------------------------------------------------
class Suggestion:
    __slots__ = ("key", "uri", "text", "start", "shown", "accepted", "partial")

    def __init__(self, key: Key, uri: str, text: str, start: Tracked) -> None:
        self.key, self.uri, self.text, self.start = key, uri, text, start
        self.shown = self.accepted = self.partial = False


class View:
    """One item as answered: `skip` characters of its suggestion were already in the document; `taken` characters
    of the item's own text have been accepted in part since."""

    __slots__ = ("suggestion", "skip", "start", "taken", "accepted")

    def __init__(self, suggestion: Suggestion, skip: int, start: Tracked) -> None:
        self.suggestion, self.skip, self.start = suggestion, skip, start
        self.taken = 0
        self.accepted = False

    @property
    def text(self) -> str:
        return self.suggestion.text[self.skip:]


class Piece:
    """Accepted text whose retention is still to be checked."""

    __slots__ = ("key", "uri", "text", "start", "end", "due")

    def __init__(self, key: Key, uri: str, text: str, start: Tracked, end: Tracked, due: list[tuple[float, float]]):
        self.key, self.uri, self.text, self.start, self.end, self.due = key, uri, text, start, end, due


# -- counters -------------------------------------------------------------------------------------------------------
def rates(counts: Counter, delays: Iterable[float]) -> dict:
    """Counters with their rates: accept rate (accepted whole / shown), kept rate (kept / checked characters)."""
    result = dict(counts)
    shown = counts["shown"]
    result["accept_rate"] = counts["accepted"] / shown if shown else None
    result["partial_rate"] = counts["partially_accepted"] / shown if shown else None
    for delay in delays:
        label = delay_label(delay)
        checked = counts[f"checked_chars_{label}"]
        result[f"kept_rate_{label}"] = counts[f"kept_chars_{label}"] / checked if checked else None
    return result


def summarize(table: dict[Key, Counter], delays: tuple[float, ...]) -> dict:
    """Totals and the splits by mode, language and engine, each with its rates."""
    names = counter_names(delays)
    total: Counter = Counter({name: 0 for name in names})
    splits: dict[str, dict[str, Counter]] = {"by_mode": {}, "by_language": {}, "by_engine": {}}
    for key, counts in table.items():
        total.update(counts)
        for split, part in zip(splits.values(), key):
            split.setdefault(part, Counter({name: 0 for name in names})).update(counts)
    result = rates(total, delays)
    # the longest delay that has data is the headline kept rate
    result["kept_rate"] = next(
        (result[f"kept_rate_{delay_label(d)}"] for d in reversed(delays) if result[f"kept_rate_{delay_label(d)}"] is not None),
        None,
    )
    for name, split in splits.items():
        result[name] = {part: rates(counts, delays) for part, counts in sorted(split.items())}
    return result


class CounterFile:
    """The counters (never text) per day and (mode, language, engine), in a JSON file in the user's state directory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.days: dict[str, dict[Key, Counter]] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError, RecursionError) as err:
            log.warning("acceptance counters in %s could not be read (%s); starting afresh", path, type(err).__name__)
            data = {}
        self.days, dropped = read_counters(data)
        if dropped:
            log.warning("acceptance counters in %s: %d damaged entries were left out (%s)", path, len(dropped), dropped[0])
        self.dirty = False

    def add(self, day: str, key: Key, name: str, amount: int) -> None:
        self.days.setdefault(day, {}).setdefault(key, Counter())[name] += amount
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        data = {
            "version": 1,
            "days": {
                day: [{"key": list(key), "counts": dict(counts)} for key, counts in rows.items()]
                for day, rows in sorted(self.days.items())
            },
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(temporary, self.path)
            self.dirty = False
        except OSError as err:
            log.warning("could not save acceptance counters to %s: %s", self.path, err)


def default_counter_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("codegen-lsp")) / "acceptance.json"


# -- the tracker ------------------------------------------------------------------------------------------------------
class AcceptanceTracker:
    """Follows items from answer to show, accept and retention. Every method takes plain data and never raises on bad
    input from the client: it logs one line and ignores it.

    `clock` (monotonic seconds) decides when retention checks are due and `wall_clock` (epoch seconds) which day
    saved counters belong to: tests pass their own, so that "two minutes later" needs no sleeping.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        delays: tuple[float, ...] = RETENTION_DELAYS_S,
    ) -> None:
        self.clock, self.wall_clock, self.delays = clock, wall_clock, tuple(sorted(delays))
        self.encoding: str = types.PositionEncodingKind.Utf16  # the session's position encoding, set at initialize
        self.table: dict[Key, Counter] = {}
        self._views: OrderedDict[str, View] = OrderedDict()
        self._last_offer: dict[str, list[Suggestion]] = {}  # per document: the suggestions of its last answer
        self._pieces: list[Piece] = []
        self._tracked: dict[str, weakref.WeakSet] = {}
        self._next_id = 0
        self.store: CounterFile | None = None
        self._saved_at = 0.0

    # -- persistence ------------------------------------------------------------------------------------------------
    def persist(self, path: Path | None) -> None:
        """Save counters to `path` from now on (None: stop saving)."""
        if self.store is not None and (path is None or self.store.path != path):
            self.store.save()
            self.store = None
        if path is not None and self.store is None:
            self.store = CounterFile(path)
            log.info("acceptance counters are saved to %s", path)

    def save(self) -> None:
        if self.store is not None:
            self.store.save()
            self._saved_at = self.clock()

    def _count(self, key: Key, name: str, amount: int = 1) -> None:
        if amount <= 0:
            return
        self.table.setdefault(key, Counter())[name] += amount
        if self.store is not None:
            self.store.add(date.fromtimestamp(self.wall_clock()).isoformat(), key, name, amount)
            if self.clock() - self._saved_at > SAVE_EVERY_S:
                self.save()

    # -- positions ----------------------------------------------------------------------------------------------------
    def _track(self, uri: str, line: int, character: int, is_end: bool = False) -> Tracked:
        point = Tracked(line, character, is_end)
        self._tracked.setdefault(uri, weakref.WeakSet()).add(point)
        return point

    def changed(self, uri: str, changes: Iterable[Any]) -> None:
        """didChange: move every position followed in this document (ranges apply one after the other)."""
        points = self._tracked.get(uri)
        if not points:
            return
        points = list(points)
        for change in changes:
            if not isinstance(change, types.TextDocumentContentChangePartial):
                log.debug("a whole-document change: accepted text in %s is compared where it was", uri)
                continue
            start, end = sorted((change.range.start, change.range.end), key=lambda q: (q.line, q.character))
            new_end = advance(start.line, start.character, change.text, self.encoding)
            for point in points:
                move(point, start, end, change.text, self.encoding, new_end)

    def closed(self, uri: str) -> None:
        """didClose: the document's accepted pieces can no longer be checked (what it holds now cannot be known,
        and a document reopened under the same URI is another text): their checks still to come are left out."""
        self._last_offer.pop(uri, None)
        self._tracked.pop(uri, None)
        left_out = [piece for piece in self._pieces if piece.uri == uri]
        if left_out:
            log.debug("%d retention checks left out: the document was closed", len(left_out))
            self._pieces = [piece for piece in self._pieces if piece.uri != uri]

    # -- answers ------------------------------------------------------------------------------------------------------
    def offer(
        self, uri: str, text: str, offset: int, position: types.Position, completions: list[str], key: Key
    ) -> list[str]:
        """Ids for the items of an answer at `offset` of `text`. An item that is the rest of a suggestion of the
        previous answer here (the user typed its start) is a view of that suggestion."""
        previous = self._last_offer.get(uri, [])
        ids, suggestions = [], []
        for index, completion in enumerate(completions):
            suggestion, skip = self._continued(previous, text, offset, completion)
            if suggestion is None:
                start = self._track(uri, position.line, position.character)
                suggestion, skip = Suggestion(key, uri, completion, start), 0
                if index == 0:  # the item an editor shows first
                    self._count(key, "offered")
            ids.append(self._add_view(View(suggestion, skip, self._track(uri, position.line, position.character))))
            suggestions.append(suggestion)
        self._last_offer[uri] = suggestions
        return ids

    def _continued(self, previous: list[Suggestion], text: str, offset: int, completion: str):
        for suggestion in previous:
            start = offset_at(text, suggestion.start.position(), self.encoding)[0]
            skip = offset - start
            if 0 <= skip < len(suggestion.text) and suggestion.text[skip:] == completion and (
                text[start:offset] == suggestion.text[:skip]
            ):
                return suggestion, skip
        return None, 0

    def _add_view(self, view: View) -> str:
        self._next_id += 1
        view_id = f"{self._next_id}"
        self._views[view_id] = view
        while len(self._views) > MAX_VIEWS:
            self._views.popitem(last=False)
        return view_id

    def _view(self, view_id: str | None, what: str) -> View | None:
        view = self._views.get(view_id) if view_id is not None else None
        if view is None:
            log.info("%s for %s ignored: %s", what, "an item without an id" if view_id is None else f"item {view_id}",
                     "not one of ours" if view_id is None else "unknown or forgotten")
        return view

    # -- what the editor reports ------------------------------------------------------------------------------------
    def shown(self, view_id: str | None) -> None:
        """didShowCompletion: the item is on screen."""
        view = self._view(view_id, "didShowCompletion")
        if view is not None:
            self._mark_shown(view.suggestion)

    def _mark_shown(self, suggestion: Suggestion) -> None:
        if not suggestion.shown:
            suggestion.shown = True
            self._count(suggestion.key, "shown")

    def accepted(self, view_id: str | None) -> None:
        """The item's command: the user took the whole item (what was not taken in part before)."""
        view = self._view(view_id, "accept command")
        if view is None:
            return
        if view.accepted:
            log.info("accept command for item %s ignored: it was accepted already", view_id)
            return
        view.accepted = True
        suggestion = view.suggestion
        self._mark_shown(suggestion)
        if not suggestion.accepted:
            suggestion.accepted = True
            self._count(suggestion.key, "accepted")
        self._take(view, len(view.text), partial=False)

    def partially_accepted(self, view_id: str | None, length: int) -> None:
        """The first `length` UTF-16 code units of the item's text are in the document."""
        view = self._view(view_id, "didPartiallyAcceptCompletion")
        if view is None:
            return
        if length < 0:
            log.info("didPartiallyAcceptCompletion ignored: acceptedLength is negative")
            return
        upto = utf16_prefix(view.text, length)
        if upto is None:
            log.info("didPartiallyAcceptCompletion ignored: acceptedLength %d is past the item's text (%d units)",
                     length, len(view.text.encode("utf-16-le")) // 2)
            return
        if view.accepted or upto <= view.taken:
            return  # nothing new (a repeat, or the rest came with the accept command)
        suggestion = view.suggestion
        self._mark_shown(suggestion)
        if not suggestion.partial:
            suggestion.partial = True
            self._count(suggestion.key, "partially_accepted")
        self._take(view, upto, partial=True)

    def _take(self, view: View, upto: int, partial: bool) -> None:
        """Characters view.taken..upto of the item went into the document: count them and follow them."""
        text = view.text[view.taken:upto]
        line, character = advance(view.start.line, view.start.character, view.text[: view.taken], self.encoding)
        view.taken = upto
        if not text:
            return
        key, uri = view.suggestion.key, view.suggestion.uri
        self._count(key, "accepted_chars", len(text))
        if partial:
            self._count(key, "partial_chars", len(text))
        end = advance(line, character, text, self.encoding)
        now = self.clock()
        piece = Piece(key, uri, text, self._track(uri, line, character), self._track(uri, *end, is_end=True),
                      [(now + delay, delay) for delay in self.delays])
        self._pieces.append(piece)
        if len(self._pieces) > MAX_PIECES:
            self._pieces.pop(0)

    # -- retention ----------------------------------------------------------------------------------------------------
    def next_due(self) -> float | None:
        return min((piece.due[0][0] for piece in self._pieces if piece.due), default=None)

    def check_due(self, text_of: Callable[[str], str | None]) -> None:
        """Measure every retention check that is due: `text_of(uri)` is the open document's text (None: closed)."""
        now = self.clock()
        for piece in self._pieces:
            while piece.due and piece.due[0][0] <= now:
                _, delay = piece.due.pop(0)
                text = text_of(piece.uri)
                if text is None:
                    piece.due.clear()  # closed: what it holds now cannot be known
                    log.debug("retention check skipped: the document was closed")
                    break
                begin = offset_at(text, piece.start.position(), self.encoding)[0]
                finish = offset_at(text, piece.end.position(), self.encoding)[0]
                kept = kept_characters(piece.text, text[begin:max(begin, finish)])
                label = delay_label(delay)
                self._count(piece.key, f"checked_chars_{label}", len(piece.text))
                self._count(piece.key, f"kept_chars_{label}", kept)
        self._pieces = [piece for piece in self._pieces if piece.due]

    # -- reading ------------------------------------------------------------------------------------------------------
    def snapshot(self) -> dict:
        result = summarize(self.table, self.delays)
        result["retention_delays_s"] = list(self.delays)
        if self.store is not None:
            days = sorted(self.store.days)[-HISTORY_DAYS:]
            merged: dict[Key, Counter] = {}
            for day in days:
                for key, counts in self.store.days[day].items():
                    merged.setdefault(key, Counter()).update(counts)
            history = summarize(merged, self.delays)
            result["saved"] = {"file": str(self.store.path), "days": days, **history}
        return result
