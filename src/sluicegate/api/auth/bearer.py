"""Bearer-token authentication of the API: who may post, and to which queues.

With ``API_TOKENS_FILE`` set (see ``api/auth/tokens.py`` for its format), a protected route needs
``Authorization: Bearer <token>``. Missing, malformed or unknown: 401 with ``WWW-Authenticate:
Bearer`` (problem+json); a queue outside the token's patterns: 403. Without the file every
caller is let through, which ``check_exposure`` allows only on a loopback ``HOST`` or with
``API_AUTH=none``.

Protecting a route (any module that adds one)::

    from fastapi import Depends
    from sluicegate.api.auth.bearer import Caller, require_token

    @router.post("/v1/things/{queue}", dependencies=[Depends(require_token)])
    async def post_things(queue: str) -> ...: ...

    # or, to know who called (``caller.name`` is None when authentication is off):
    async def post_things(queue: str, caller: Caller = Depends(require_token)) -> ...: ...

``require_token`` authenticates, and when the route has a ``{queue}`` path parameter it also
checks that queue against the token's patterns. A route that learns its queue some other way
(from the body, say) calls ``authorize(request, caller, queue)`` itself. ``/livez``, ``/readyz``
and ``/metrics`` stay open on purpose: probes and scrapers carry no tokens.

The token file is re-read on SIGHUP (``toml_file.py``): a file that no longer parses keeps
the previous tokens in force and logs why.
"""

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter

from sluicegate.api.auth.tokens import Token, TokenTable, load_tokens
from sluicegate.api.problems import ProblemError
from sluicegate.errors import ConfigurationError
from sluicegate.logs import get_logger
from sluicegate.settings import Settings
from sluicegate.toml_file import reread

_REALM = 'Bearer realm="sluicegate"'
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who made the request: the token's name, or None when authentication is off."""

    name: str | None
    token: Token | None = None


OPEN = Caller(None)


class Authenticator:
    """The tokens in force, and the decision for one request. One per API process."""

    def __init__(self, path: Path | None, registry: CollectorRegistry) -> None:
        self.path = path
        self.table: TokenTable | None = load_tokens(path) if path is not None else None
        self.decisions = Counter(
            "sluicegate_api_auth_decisions",
            "Authentication decisions on protected routes, by token name ('' when none matched).",
            ["token", "outcome"],
            registry=registry,
        )

    @property
    def enabled(self) -> bool:
        return self.table is not None

    def reload(self) -> bool:
        """Re-read the file; on any error keep the tokens in force. True if the file was taken."""
        table = reread(self.path, load_tokens, _names, self.table, ("api-tokens", "tokens"))
        if table is None:
            return False
        self.table = table
        return True

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller the ``Authorization`` header names; ProblemError 401 if it names none."""
        table = self.table
        if table is None:
            return OPEN
        if authorization is None:
            self._refuse("missing", "send Authorization: Bearer <token>", _REALM)
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != "bearer" or not credentials:
            self._refuse(
                "malformed",
                "the Authorization header must be 'Bearer <token>'",
                f'{_REALM}, error="invalid_request"',
            )
        token = table.match(credentials)
        if token is None:
            challenge = f'{_REALM}, error="invalid_token"'
            self._refuse("unknown", "the bearer token is not valid", challenge)
        return Caller(token.name, token)

    def authorize(self, caller: Caller, queue: str) -> None:
        """ProblemError 403 unless the caller's token covers ``queue``."""
        if caller.token is None:
            return
        if not caller.token.allows(queue):
            self.decisions.labels(caller.token.name, "forbidden").inc()
            get_logger().warning("api-auth-forbidden", token=caller.token.name, queue=queue)
            raise ProblemError(
                403,
                "forbidden",
                f"token '{caller.token.name}' may not post to queue '{queue}'",
                headers={"WWW-Authenticate": f'{_REALM}, error="insufficient_scope"'},
            )
        self.decisions.labels(caller.token.name, "accepted").inc()

    def _refuse(self, outcome: str, detail: str, challenge: str) -> NoReturn:
        self.decisions.labels("", outcome).inc()
        get_logger().debug("api-auth-refused", outcome=outcome)
        raise ProblemError(401, "unauthorized", detail, headers={"WWW-Authenticate": challenge})


def _names(table: TokenTable | None) -> list[str]:
    return [token.name for token in table.tokens] if table else []


def authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.api.auth
    return auth


def authorize(request: Request, caller: Caller, queue: str) -> None:
    """For routes whose queue is not a path parameter: 403 unless ``caller`` may post to it."""
    authenticator(request).authorize(caller, queue)


async def require_token(request: Request) -> Caller:
    """The FastAPI dependency: 401 without a valid token, 403 for a ``{queue}`` it may not use."""
    auth = authenticator(request)
    caller = auth.authenticate(request.headers.get("authorization"))
    queue = request.path_params.get("queue")
    if isinstance(queue, str):
        auth.authorize(caller, queue)
    return caller


def is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Protected mode: refuse to serve without tokens on a reachable address, unless told to."""
    if settings.api_auth == "none":
        if settings.api_tokens_file is not None:
            raise ConfigurationError(
                "API_AUTH=none turns authentication off, yet API_TOKENS_FILE is set: unset one"
            )
        return
    if settings.api_tokens_file is None and not is_loopback(settings.host):
        raise ConfigurationError(
            f"refusing to serve HOST={settings.host} without authentication: set API_TOKENS_FILE "
            "(see `sluicegate token create`), or API_AUTH=none if an open API is intended"
        )
