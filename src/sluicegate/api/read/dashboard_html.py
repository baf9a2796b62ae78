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
from sluicegate.queue.keys import DEFAULT_DESTINATION
from sluicegate.queue.stats import QueueSnapshot


@cache
def _page() -> str:
    return resources.files(__package__).joinpath("ui", "dashboard.html").read_text("utf-8")


def page(panel_html: str) -> str:
    return _page().replace("{{panel}}", panel_html)


def panel(snapshots: list[QueueSnapshot], dead: dict[tuple[str, str], list[DeadLetter]]) -> str:
    """A row per lane (a queue and one of its destinations: one per queue without
    DESTINATIONS_FILE), the conservation line per destination, each lane's dead letters."""
    figures = {s.queue: [s.accepted, s.persisted + s.dead_lettered] for s in snapshots}
    lanes = [lane for snap in snapshots for lane in snap.lanes]
    parts = [
        f"<div data-figures='{escape(orjson.dumps(figures).decode())}'></div>",
        _system_lines(lanes),
        _queue_table(lanes),
    ]
    several = _several(lanes)
    parts += [_dead_table(*lane, letters, several) for lane, letters in dead.items() if letters]
    return "\n".join(parts)


def _several(lanes: list[QueueSnapshot]) -> bool:
    """Any destination but the default: the panel names each lane's destination."""
    return any(lane.destination != DEFAULT_DESTINATION for lane in lanes)


def _system_lines(lanes: list[QueueSnapshot]) -> str:
    """The whole system's line; with several destinations, one per destination (each holds on
    its own: every queue's accepted events, for every destination of the queue)."""
    if not _several(lanes):
        return _system_line(lanes, 'id="conservation" ', "")
    names = sorted({lane.destination for lane in lanes})
    own = [[lane for lane in lanes if lane.destination == name] for name in names]
    rows = "".join(
        _system_line(of, f'data-destination="{escape(name)}" ', f"{escape(name)}: ")
        for name, of in zip(names, own, strict=True)
    )
    return f'<div id="conservation">{rows}</div>'


def _system_line(lanes: list[QueueSnapshot], attributes: str, label: str) -> str:
    accepted = sum(s.accepted for s in lanes)
    persisted = sum(s.persisted for s in lanes)
    queued = sum(s.queued for s in lanes)
    in_flight = sum(s.in_flight for s in lanes)
    dead = sum(s.dead_lettered for s in lanes)
    off = accepted - (persisted + queued + in_flight + dead)
    verdict = "holds" if off == 0 else f"does NOT hold: {off:+,} unaccounted"
    return (
        f'<p {attributes}class="line {"ok" if off == 0 else "bad"}">{label}'
        f"accepted {accepted:,} = persisted {persisted:,} + queued {queued:,} + "
        f"in flight {in_flight:,} + dead {dead:,} &mdash; {verdict}</p>"
    )


_HEADERS = ("depth", "queued", "in flight", "dead", "persisted", "redeliveries absorbed", "lag")


def _queue_table(lanes: list[QueueSnapshot]) -> str:
    if not lanes:
        return '<p class="muted">No queue has received an event yet.</p>'
    several = _several(lanes)
    head = '<th class="text">destination</th>' if several else ""
    head += "".join(f"<th>{name}</th>" for name in _HEADERS)
    rows = "".join(_queue_row(s, several) for s in lanes)
    return (
        '<h2>Queues</h2><table id="queues"><thead><tr><th class="text">queue</th>'
        f'{head}<th class="text">consumers</th><th class="text">line</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _queue_row(s: QueueSnapshot, several: bool) -> str:
    cells = (s.depth, s.queued, s.in_flight, s.dead_lettered, s.persisted, s.duplicates_suppressed)
    numbers = "".join(
        f'<td data-field="{name}">{value:,}</td>'
        for name, value in zip(_HEADERS, cells, strict=False)
    )
    consumers = ", ".join(f"{escape(c.host)}:{c.pid}" for c in s.consumers) or "—"
    line = "holds" if s.unaccounted == 0 else f"{s.unaccounted:+,} off"
    attributes = f'data-queue="{escape(s.queue)}"'
    names = f'<td class="text">{escape(s.queue)}</td>'
    if several:
        attributes += f' data-destination="{escape(s.destination)}"'
        names += f'<td class="text">{escape(s.destination)}</td>'
    return (
        f"<tr {attributes}>{names}{numbers}"
        f'<td data-field="lag">{s.oldest_age_s:.1f}s</td>'
        f'<td class="text">{consumers}</td><td class="text">{line}</td></tr>'
    )


def _dead_table(queue: str, destination: str, letters: list[DeadLetter], several: bool) -> str:
    q, d = escape(queue), escape(destination)
    target = f"data-replay='{q}' data-destination='{d}'"
    rows = "".join(
        f"<tr><td class='text'>{escape(letter.entry_id)}</td>"
        f"<td class='text'>{escape(letter.event.event_id)}</td><td>{letter.deliveries}</td>"
        f"<td class='text'>{_when(letter.dead_at_ms)}</td>"
        f"<td class='text'>{escape(letter.reason)}</td>"
        f"<td><button {target} data-entry='{escape(letter.entry_id)}'>Replay</button>"
        "</td></tr>"
        for letter in letters
    )
    of = f"{q} in {d}" if several else q
    return (
        f"<h2>Dead letters of {of} ({len(letters):,} shown)</h2>"
        f"<p><button {target}>Replay all of {of}</button></p>"
        f"<table class='dead' data-queue='{q}' data-destination='{d}'><thead><tr>"
        "<th class='text'>entry</th>"
        "<th class='text'>event id</th><th>deliveries</th><th class='text'>dead at (UTC)</th>"
        f"<th class='text'>reason</th><th></th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
