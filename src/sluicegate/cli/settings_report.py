"""What ``sluicegate config`` shows: every setting, its variable, value and where it came from.

Sources: ``environment`` (a variable was set), ``default`` (the field's default), ``derived``
(computed from other settings, e.g. the SQLite file from ``SLUICEGATE_DATA_DIR``). URLs are masked.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import AliasChoices

from sluicegate.masking import mask_url
from sluicegate.settings import POSTGRES_QUEUE_CONSUMERS, Settings

_URL_FIELDS = frozenset({"redis_url", "database_url"})
JsonValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class SettingReport:
    name: str  # the field of Settings
    variable: str  # the environment variable that sets it
    value: JsonValue
    source: str  # environment, default or derived
    description: str


def environment_variables(name: str) -> list[str]:
    """The variables that set field ``name``, the documented one first (upper case)."""
    alias = Settings.model_fields[name].validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else [alias or name]
    return [str(choice).upper() for choice in choices]


def report(settings: Settings, environ: Mapping[str, str] | None = None) -> list[SettingReport]:
    """One row per field of ``settings``, in declaration order."""
    present = {key.upper() for key in (os.environ if environ is None else environ)}
    rows = []
    for name, field in Settings.model_fields.items():
        variables = environment_variables(name)
        value, source = _value_and_source(settings, name, present.intersection(variables))
        rows.append(SettingReport(name, variables[0], value, source, field.description or ""))
    return rows


def _value_and_source(settings: Settings, name: str, set_by: set[str]) -> tuple[JsonValue, str]:
    value = getattr(settings, name)
    if not set_by:
        derived = _derived(settings, name)
        if derived is not None:
            return _shown(name, derived), "derived"
    return _shown(name, value), "environment" if set_by else "default"


def _derived(settings: Settings, name: str) -> str | None:
    """The value an unset setting takes from the others, when it does."""
    if name == "database_url":
        return settings.resolved_database_url
    if name == "redis_url" and settings.redis_host:
        return settings.resolved_redis_url
    if name == "sqlite_filepath" and not settings.database_url:
        return str(settings.data_dir / "events.db")
    if name == "queue_consumers" and settings.queue_consumers == POSTGRES_QUEUE_CONSUMERS:
        return str(POSTGRES_QUEUE_CONSUMERS)  # unset, on PostgreSQL
    return None


def _shown(name: str, value: object) -> JsonValue:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, str) and name in _URL_FIELDS:
        return mask_url(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
