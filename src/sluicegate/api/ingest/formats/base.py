"""What every adapter shares: its inputs and the media-type helpers."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sluicegate.events import Event
from sluicegate.settings import Settings


@dataclass(frozen=True, slots=True)
class Intake:
    """What an adapter may look at besides the body."""

    queue: str
    headers: Mapping[str, str]  # names in lower case
    settings: Settings


Adapter = Callable[[bytes, Intake], list[Event]]


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )
