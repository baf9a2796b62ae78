"""Webhook signatures, checked on the raw body with constant-time comparisons.

- ``github``: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``.
- ``standard-webhooks`` (standardwebhooks.com; Svix, Hookdeck, Convoy...): ``webhook-signature``
  holds space-separated ``v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>``
  and ``webhook-timestamp`` must be within 5 minutes of now, so a captured request cannot be
  replayed later.

Every configured secret is tried (several during a rotation) and every comparison runs to the end.
Any failure is a 401 problem that says what was wrong, never what was expected.
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from sluicegate.api.auth.webhooks_file import Webhook
from sluicegate.api.problems import ProblemError

TOLERANCE_S = 300


def verify(webhook: Webhook, headers: Mapping[str, str], body: bytes) -> None:
    """Returns if the request is signed by one of the webhook's secrets; 401 otherwise."""
    if webhook.verify == "github":
        _github(webhook.secrets, headers, body)
    elif webhook.verify == "standard-webhooks":
        _standard(webhook.secrets, headers, body, time.time())


def _github(secrets: tuple[bytes, ...], headers: Mapping[str, str], body: bytes) -> None:
    given = headers.get("x-hub-signature-256", "")
    if not given.startswith("sha256="):
        raise _refused("X-Hub-Signature-256 is missing or not 'sha256=<hex>'")
    expected = [hmac.new(key, body, hashlib.sha256).hexdigest() for key in secrets]
    if not _any_equal(given.removeprefix("sha256=").encode(), [e.encode() for e in expected]):
        raise _refused("X-Hub-Signature-256 does not match the body with any configured secret")


def _standard(
    secrets: tuple[bytes, ...], headers: Mapping[str, str], body: bytes, now_s: float
) -> None:
    message_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature")
    if message_id is None or signatures is None or not stamp.isdigit():
        raise _refused("webhook-id, webhook-timestamp and webhook-signature are all required")
    if abs(now_s - int(stamp)) > TOLERANCE_S:
        raise _refused(f"webhook-timestamp is more than {TOLERANCE_S} s away from now")
    signed = f"{message_id}.{stamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()) for k in secrets]
    given = [
        value.encode()
        for version, _, value in (part.partition(",") for part in signatures.split())
        if version == "v1"
    ]
    if not any([_any_equal(candidate, expected) for candidate in given]):
        raise _refused("webhook-signature does not match the body with any configured secret")


def _any_equal(candidate: bytes, expected: list[bytes]) -> bool:
    """Compares with every expected value, without stopping at the first match."""
    return any([hmac.compare_digest(candidate, value) for value in expected])


def _refused(detail: str) -> ProblemError:
    return ProblemError(401, "invalid-signature", detail)
