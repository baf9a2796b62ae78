"""The API tokens file (``API_TOKENS_FILE``): TOML naming each token, its SHA-256 and its queues.

```toml
[tokens.billing-service]          # the name: logged and a metrics label, never the token
sha256 = "9f86d08…"               # hex SHA-256 of the token; the token itself is never stored
queues = ["orders", "billing-*"]  # glob patterns (fnmatchcase) of the queues it may post to
rate = "500/s"                    # optional: requests per s, m or h, shared by every API process
burst = 1000                      # optional: requests that may go at once (default: 1 s's worth)
```

Only digests are kept, in memory as on disk. ``TokenTable.match`` hashes the presented token and
compares it with *every* digest using ``hmac.compare_digest``, with no early exit, so neither the
time taken nor anything else tells an attacker how close a guess was or which entry it hit.
"""

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluicegate.errors import ConfigurationError
from sluicegate.queue.rate import Rate, parse_rate
from sluicegate.toml_file import check_queue_pattern, matches_queue, read_toml

TOKEN_PREFIX = "sgt_"  # noqa: S105 - a prefix, not a secret
_TOKEN_BYTES = 32
NAME_REGEX = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"  # a bare TOML key: no dots
_NAME = re.compile(NAME_REGEX)
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")
# Queue-name characters plus the glob's own: * ? [ ] !
_ENTRY_KEYS = frozenset({"sha256", "queues"})
_OPTIONAL_KEYS = frozenset({"rate", "burst"})


@dataclass(frozen=True, slots=True)
class Token:
    """One configured token: its name, the digest of its secret, the queues it may post to."""

    name: str
    digest: bytes
    queues: tuple[str, ...]
    rate: Rate | None = None  # None: no limit

    def allows(self, queue: str) -> bool:
        return matches_queue(queue, self.queues)


@dataclass(frozen=True, slots=True)
class TokenTable:
    tokens: tuple[Token, ...]

    def match(self, presented: str) -> Token | None:
        """The token whose digest is that of ``presented``; every digest is compared."""
        digest = digest_of(presented)
        found: Token | None = None
        for token in self.tokens:
            equal = hmac.compare_digest(digest, token.digest)
            found = token if equal else found
        return found


def digest_of(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def new_token() -> str:
    """A fresh random token: 256 bits, URL-safe, with a prefix secret scanners can spot."""
    return TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def parse_patterns(text: str) -> tuple[str, ...]:
    """``"orders, billing-*"`` -> ``("orders", "billing-*")``; ConfigurationError if one is bad."""
    patterns = tuple(part.strip() for part in text.split(",") if part.strip())
    if not patterns:
        raise ConfigurationError("give at least one queue pattern, e.g. --queues 'orders,b-*'")
    for pattern in patterns:
        check_queue_pattern(pattern, "--queues")
    return patterns


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigurationError(
            f"token name {name!r}: use 1 to 64 of A-Z, a-z, 0-9, '_', '-', "
            "starting with a letter or digit"
        )
    return name


def toml_block(name: str, token: str, queues: tuple[str, ...]) -> str:
    """The entry to paste into the tokens file for ``token`` (its digest, never the token)."""
    listed = ", ".join(f'"{pattern}"' for pattern in queues)
    return f'[tokens.{name}]\nsha256 = "{digest_of(token).hex()}"\nqueues = [{listed}]\n'


def load_tokens(path: Path) -> TokenTable:
    """Read and check the file; any mistake is a ConfigurationError naming the file and entry."""
    document = read_toml("API_TOKENS_FILE", path)
    entries = document.get("tokens", {})
    unknown = set(document) - {"tokens"}
    if unknown or not isinstance(entries, dict):
        raise ConfigurationError(
            f"API_TOKENS_FILE {path}: expected only [tokens.NAME] tables, got {sorted(document)}"
        )
    tokens = tuple(_token(path, name, entry) for name, entry in entries.items())
    _check_distinct(path, tokens)
    return TokenTable(tokens)


def _token(path: Path, name: str, entry: Any) -> Token:
    where = f"API_TOKENS_FILE {path}: [tokens.{name}]"
    try:
        check_name(name)
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {error}") from None
    if not isinstance(entry, dict) or not _ENTRY_KEYS <= set(entry) <= _ENTRY_KEYS | _OPTIONAL_KEYS:
        raise ConfigurationError(
            f"{where}: needs the keys sha256 and queues, and may have rate and burst"
        )
    digest, queues = entry["sha256"], entry["queues"]
    if not isinstance(digest, str) or not _HEX_SHA256.fullmatch(digest.lower()):
        raise ConfigurationError(f"{where}: sha256 must be 64 hex digits (the token's SHA-256)")
    if not isinstance(queues, list) or not queues or not all(isinstance(q, str) for q in queues):
        raise ConfigurationError(f"{where}: queues must be a non-empty list of glob patterns")
    for pattern in queues:
        check_queue_pattern(pattern, where)
    return Token(name, bytes.fromhex(digest), tuple(queues), _rate(where, entry))


def _rate(where: str, entry: dict[str, Any]) -> Rate | None:
    text, burst = entry.get("rate"), entry.get("burst")
    if text is None:
        if burst is not None:
            raise ConfigurationError(f"{where}: burst needs a rate")
        return None
    if not isinstance(text, str) or not (burst is None or type(burst) is int):
        raise ConfigurationError(f'{where}: rate is text ("500/s") and burst a whole number')
    try:
        return parse_rate(text, burst)
    except ValueError as error:
        raise ConfigurationError(f"{where}: {error}") from None


def _check_distinct(path: Path, tokens: tuple[Token, ...]) -> None:
    seen: dict[bytes, str] = {}
    for token in tokens:
        if token.digest in seen:
            raise ConfigurationError(
                f"API_TOKENS_FILE {path}: [tokens.{seen[token.digest]}] and "
                f"[tokens.{token.name}] have the same sha256"
            )
        seen[token.digest] = token.name
