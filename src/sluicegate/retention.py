"""How long stored events and their ids are kept: RETENTION, QUEUE_RETENTION and DEDUP_WINDOW.

A duration is written ``30s``, ``15m``, ``36h`` or ``7d``; ``forever`` (or an empty value) keeps
events for good. The policy answers one question per queue: below which ``accepted_at`` (epoch
ms) its events have expired. The id table keeps an id for DEDUP_WINDOW after it was first stored,
and for as long as its event exists (docs/retention.md).
"""

import re
from dataclasses import dataclass, field

_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION = re.compile(r"(\d+)\s*([smhd])")
FOREVER = "forever"
DAY_MS = 86_400_000


def parse_duration_s(text: str) -> float | None:
    """``7d`` -> 604800.0; ``forever`` or empty -> None; ValueError naming what is wrong."""
    given = text.strip().lower()
    if given in ("", FOREVER):
        return None
    found = _DURATION.fullmatch(given)
    if found is None or int(found[1]) == 0:
        raise ValueError(f"{text!r} is not a duration such as 30s, 15m, 36h, 7d or 'forever'")
    return float(int(found[1]) * _UNITS_S[found[2]])


def parse_queue_durations(text: str) -> dict[str, float | None]:
    """``clicks:7d,orders:400d`` -> {"clicks": 604800.0, "orders": 34560000.0}."""
    found: dict[str, float | None] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        queue, _, duration = item.partition(":")
        if not queue.strip():
            raise ValueError(f"{item!r} is not queue:duration")
        found[queue.strip()] = parse_duration_s(duration)
    return found


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """``default_s``: RETENTION (None: forever); ``per_queue_s``: QUEUE_RETENTION's overrides;
    ``dedup_window_s``: DEDUP_WINDOW."""

    default_s: float | None = None
    per_queue_s: dict[str, float | None] = field(default_factory=dict)
    dedup_window_s: float = 7 * 86_400.0

    def keep_s(self, queue: str) -> float | None:
        """How long ``queue``'s events are kept; None: forever."""
        return self.per_queue_s.get(queue, self.default_s)

    def cutoff_ms(self, queue: str, now_ms: int) -> int | None:
        """Events of ``queue`` accepted before this epoch ms have expired; None: none ever."""
        keep_s = self.keep_s(queue)
        return None if keep_s is None else now_ms - int(keep_s * 1000)

    def id_cutoff_ms(self, queue: str, now_ms: int) -> int | None:
        """Ids of ``queue`` first stored before this are forgotten (once their event is gone)."""
        return self._id_cutoff(self.keep_s(queue), now_ms)

    def default_id_cutoff_ms(self, now_ms: int) -> int | None:
        """``id_cutoff_ms`` of the queues QUEUE_RETENTION does not name."""
        return self._id_cutoff(self.default_s, now_ms)

    def _id_cutoff(self, keep_s: float | None, now_ms: int) -> int | None:
        if keep_s is None:
            return None
        return now_ms - int(max(keep_s, self.dedup_window_s) * 1000)

    def tombstone_cutoff_ms(self, now_ms: int) -> int:
        """Deletions older than this no longer block an id."""
        return now_ms - int(self.dedup_window_s * 1000)

    @property
    def longest_s(self) -> float | None:
        """The longest retention of any queue; None when some queue keeps its events forever
        (RETENTION unset, or a QUEUE_RETENTION of forever)."""
        keeps = [self.default_s, *self.per_queue_s.values()]
        if any(keep is None for keep in keeps):
            return None
        return max(keep for keep in keeps if keep is not None)


def day_start_ms(epoch_ms: int) -> int:
    """The start (UTC midnight) of the day holding ``epoch_ms``."""
    return epoch_ms - epoch_ms % DAY_MS
