"""The dashboard's HTML, rendered on the server: no build step, nothing fetched from elsewhere.

The page (``ui/dashboard.html``, package data) holds the styles and a small script; the panel
(queues, the conservation line, dead letters) is rendered here, on load and again every second
when the script asks for ``/ui/panel``. The script keeps the last minutes of figures to draw the
in/out rates as plain SVG.
"""

from datetime import UTC, datetime
from functools import cache
from html import escape
from importlib import resources

import orjson

from sluicegate.queue.dead_letters import DeadLetter
from sluicegate.queue.stats import QueueSnapshot


@cache
def _page() -> str:
    return resources.files(__package__).joinpath("ui", "dashboard.html").read_text("utf-8")


def page(panel_html: str) -> str:
    return _page().replace("{{panel}}", panel_html)


def panel(snapshots: list[QueueSnapshot], dead: dict[str, list[DeadLetter]]) -> str:
    figures = {s.queue: [s.accepted, s.persisted + s.dead_lettered] for s in snapshots}
    parts = [
        f"<div data-figures='{escape(orjson.dumps(figures).decode())}'></div>",
        _system_line(snapshots),
        _queue_table(snapshots),
    ]
    parts += [_dead_table(queue, letters) for queue, letters in dead.items() if letters]
    return "\n".join(parts)


def _system_line(snapshots: list[QueueSnapshot]) -> str:
    accepted = sum(s.accepted for s in snapshots)
    persisted = sum(s.persisted for s in snapshots)
    queued = sum(s.queued for s in snapshots)
    in_flight = sum(s.in_flight for s in snapshots)
    dead = sum(s.dead_lettered for s in snapshots)
    off = accepted - (persisted + queued + in_flight + dead)
    verdict = "holds" if off == 0 else f"does NOT hold: {off:+,} unaccounted"
    return (
        f'<p id="conservation" class="line {"ok" if off == 0 else "bad"}">'
        f"accepted {accepted:,} = persisted {persisted:,} + queued {queued:,} + "
        f"in flight {in_flight:,} + dead {dead:,} &mdash; {verdict}</p>"
    )


_HEADERS = ("depth", "queued", "in flight", "dead", "persisted", "redeliveries absorbed", "lag")


def _queue_table(snapshots: list[QueueSnapshot]) -> str:
    if not snapshots:
        return '<p class="muted">No queue has received an event yet.</p>'
    head = "".join(f"<th>{name}</th>" for name in _HEADERS)
    rows = "".join(_queue_row(s) for s in snapshots)
    return (
        '<h2>Queues</h2><table id="queues"><thead><tr><th class="text">queue</th>'
        f'{head}<th class="text">consumers</th><th class="text">line</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _queue_row(s: QueueSnapshot) -> str:
    cells = (s.depth, s.queued, s.in_flight, s.dead_lettered, s.persisted, s.duplicates_suppressed)
    numbers = "".join(
        f'<td data-field="{name}">{value:,}</td>'
        for name, value in zip(_HEADERS, cells, strict=False)
    )
    consumers = ", ".join(f"{escape(c.host)}:{c.pid}" for c in s.consumers) or "—"
    line = "holds" if s.unaccounted == 0 else f"{s.unaccounted:+,} off"
    return (
        f'<tr data-queue="{escape(s.queue)}"><td class="text">{escape(s.queue)}</td>{numbers}'
        f'<td data-field="lag">{s.oldest_age_s:.1f}s</td>'
        f'<td class="text">{consumers}</td><td class="text">{line}</td></tr>'
    )


def _dead_table(queue: str, letters: list[DeadLetter]) -> str:
    q = escape(queue)
    rows = "".join(
        f"<tr><td class='text'>{escape(letter.entry_id)}</td>"
        f"<td class='text'>{escape(letter.event.event_id)}</td><td>{letter.deliveries}</td>"
        f"<td class='text'>{_when(letter.dead_at_ms)}</td>"
        f"<td class='text'>{escape(letter.reason)}</td>"
        f"<td><button data-replay='{q}' data-entry='{escape(letter.entry_id)}'>Replay</button>"
        "</td></tr>"
        for letter in letters
    )
    return (
        f"<h2>Dead letters of {q} ({len(letters):,} shown)</h2>"
        f"<p><button data-replay='{q}'>Replay all of {q}</button></p>"
        f"<table class='dead' data-queue='{q}'><thead><tr><th class='text'>entry</th>"
        "<th class='text'>event id</th><th>deliveries</th><th class='text'>dead at (UTC)</th>"
        f"<th class='text'>reason</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
