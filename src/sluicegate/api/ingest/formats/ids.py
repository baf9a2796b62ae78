"""Event ids for formats whose senders' ids are unique only within a scope.

A CloudEvent is identified by (source, id); a webhook delivery id by its sender. The stored event
id, the repository's primary key, must keep two scopes apart and be the same on every retry:

- readable when it fits: ``ce:<source>#<id>`` (``wh:<webhook>#<id>`` for webhooks), each part
  percent-encoded so that ``#``, ``%``, whitespace and control characters never appear raw. The
  encoding is one-to-one, so two different pairs never give the same id;
- ``ce:sha256:<hex of the readable form>`` when the readable form is over 200 characters. It has
  no ``#``, so it can never equal a readable id.
"""

import hashlib
from urllib.parse import quote

from sluicegate.api.ingest.rules import EVENT_ID_MAX_CHARS

# Printable characters that may stay as they are (RFC 3986's sub-delims, ':', '@', '/', '?').
_SAFE = "/:@!$&'()*+,;=?[]"


def scoped_id(namespace: str, scope: str, local: str) -> str:
    readable = f"{namespace}:{quote(scope, safe=_SAFE)}#{quote(local, safe=_SAFE)}"
    if len(readable) <= EVENT_ID_MAX_CHARS:
        return readable
    return f"{namespace}:sha256:{hashlib.sha256(readable.encode()).hexdigest()}"
