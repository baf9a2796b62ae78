"""Secrets out of sight: URLs are shown with their password replaced, never as typed."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_PARAMETERS = frozenset({"password", "sslpassword"})


def mask_url(url: str) -> str:
    """``redis://user:secret@host/0`` -> ``redis://user:***@host/0``; also ``?password=…``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not a URL we can parse: show nothing of it rather than a secret
        return MASK
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    secret_query = any(key.lower() in _SECRET_PARAMETERS for key, _ in pairs)
    if password is None and not secret_query:
        return url  # as typed: urlunsplit would turn sqlite:///x into sqlite:/x
    netloc = parts.netloc
    if password is not None:
        userinfo, _, hostinfo = netloc.rpartition("@")
        user = userinfo.partition(":")[0]
        netloc = f"{user}:{MASK}@{hostinfo}"
    query = parts.query
    if secret_query:
        query = urlencode(
            [(key, MASK if key.lower() in _SECRET_PARAMETERS else value) for key, value in pairs],
            safe="*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
