"""The webhooks file (``WEBHOOKS_FILE``): which queues take webhooks, and how they are verified.

```toml
[webhooks.github-events]    # POST /v1/webhooks/github-events, stored in queue github-events
verify = "github"           # "github" (X-Hub-Signature-256) | "standard-webhooks" | "none"
secrets = ["s3cr3t"]        # several during a rotation; standard-webhooks: "whsec_<base64>"
```

Re-read on ``SIGHUP`` the way ``API_TOKENS_FILE`` is (``toml_file.py``): a file that no
longer parses keeps the webhooks in force and logs why. Secrets are never logged.
"""

import base64
import binascii
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from sluicegate.errors import ConfigurationError
from sluicegate.queue.keys import is_valid_queue_name
from sluicegate.toml_file import read_toml, reread

Verify = Literal["github", "standard-webhooks", "none"]
VERIFIERS: tuple[Verify, ...] = ("github", "standard-webhooks", "none")
_KEYS = frozenset({"verify", "secrets"})
_WHSEC = "whsec_"


@dataclass(frozen=True, slots=True)
class Webhook:
    name: str  # also its queue
    verify: Verify
    secrets: tuple[bytes, ...]  # HMAC keys, in the order given


def load_webhooks(path: Path) -> dict[str, Webhook]:
    """Read and check the file; any mistake is a ConfigurationError naming the file and entry."""
    document = read_toml("WEBHOOKS_FILE", path)
    entries = document.get("webhooks", {})
    if set(document) - {"webhooks"} or not isinstance(entries, dict):
        raise ConfigurationError(
            f"WEBHOOKS_FILE {path}: expected only [webhooks.NAME] tables, got {sorted(document)}"
        )
    return {name: _webhook(f"WEBHOOKS_FILE {path}: [webhooks.{name}]", name, entry)
            for name, entry in entries.items()}  # fmt: skip


def _webhook(where: str, name: str, entry: Any) -> Webhook:
    if not is_valid_queue_name(name):
        raise ConfigurationError(
            f"{where}: the name is the queue: 1 to 64 of a-z, 0-9, '_', '-', "
            "starting with a letter or digit"
        )
    if not isinstance(entry, dict) or not set(entry) <= _KEYS or "verify" not in entry:
        raise ConfigurationError(f"{where}: needs verify, and secrets unless verify is none")
    verify = entry["verify"]
    if verify not in VERIFIERS:
        raise ConfigurationError(f"{where}: verify must be one of {', '.join(VERIFIERS)}")
    secrets = entry.get("secrets", [])
    if not isinstance(secrets, list) or not all(isinstance(s, str) and s for s in secrets):
        raise ConfigurationError(f"{where}: secrets must be a list of non-empty strings")
    if verify != "none" and not secrets:
        raise ConfigurationError(f"{where}: verify = {verify!r} needs at least one secret")
    keys = tuple(_key(where, verify, secret) for secret in secrets)
    return Webhook(name, cast(Verify, verify), keys)


def _key(where: str, verify: str, secret: str) -> bytes:
    """GitHub uses the secret's bytes; Standard Webhooks the base64 after ``whsec_``."""
    if verify != "standard-webhooks":
        return secret.encode()
    if not secret.startswith(_WHSEC):
        raise ConfigurationError(f"{where}: standard-webhooks secrets look like whsec_<base64>")
    try:
        return base64.b64decode(secret.removeprefix(_WHSEC), validate=True)
    except binascii.Error:
        raise ConfigurationError(f"{where}: a secret is not valid base64 after whsec_") from None


class Webhooks:
    """The webhooks in force. One per API process."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.table: dict[str, Webhook] = load_webhooks(path) if path is not None else {}

    def get(self, name: str) -> Webhook | None:
        return self.table.get(name)

    def reload(self) -> bool:
        """Re-read the file; on any error keep the webhooks in force. True if the file was taken."""
        table = reread(self.path, load_webhooks, _names, self.table, ("webhooks", "webhooks"))
        if table is None:
            return False
        self.table = table
        return True


def _names(table: dict[str, Webhook] | None) -> list[str]:
    return sorted(table or {})
