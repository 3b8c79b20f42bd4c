"""Hide credentials in URLs before they are logged, stored or shown.

One helper for every place a URL can leave the process: run configs and errors in DuckDB,
the LLM cache's request records, ``manifest.json``, log lines, stderr and the app.

- :func:`redact_url`: one URL; its ``user:password@`` part becomes ``***@`` and the values of
  query parameters that usually carry secrets (``api_key``, ``key``, ``token``, ...) become
  ``***``.
- :func:`redact_text`: the same for every ``http(s)://`` URL inside free text (an error
  message), plus any extra secret strings given (an API key a server echoed back).
- :func:`split_credentials`: a URL without its credentials and the credentials themselves,
  for the one place that needs them (the HTTP request's ``Authorization`` header).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

MASK = "***"

#: Query parameters whose values are treated as secrets (compared case-insensitively).
SECRET_PARAMS: frozenset[str] = frozenset(
    {
        "api_key",
        "apikey",
        "api-key",
        "key",
        "token",
        "access_token",
        "auth",
        "password",
        "pass",
        "pwd",
        "secret",
        "client_secret",
        "sig",
        "signature",
    }
)

# scheme://[userinfo@]host... up to whitespace or a quote/bracket that usually ends a URL in text
_URL_IN_TEXT = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'"<>`]+""")
# userinfo of a URL-like string even when urllib cannot split it: everything between the scheme
# and the last "@" of the URL (a password may hold "/" or "#", which fools urlsplit)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^\s'\"<>`]*)@")


def _redact_query(query: str) -> str:
    if not query:
        return query
    parts = []
    for piece in query.split("&"):
        name, sep, value = piece.partition("=")
        if sep and value and urllib.parse.unquote(name).strip().lower() in SECRET_PARAMS:
            piece = f"{name}={MASK}"
        parts.append(piece)
    return "&".join(parts)


def redact_url(url: str | None) -> str | None:
    """``url`` with its credentials (``user:password@``, secret query values) replaced by ``***``.

    A URL without credentials comes back unchanged (same string), so cache keys computed from
    redacted URLs stay the same for ordinary endpoints. ``None`` and ``""`` come back as given.

    Examples:
        ``http://alice:s3cret@llm.local:8000/v1`` -> ``http://***@llm.local:8000/v1``;
        ``https://h/v1?api_key=abc&x=1`` -> ``https://h/v1?api_key=***&x=1``.
    """
    if not url:
        return url
    text = str(url)
    # 1. userinfo, by pattern (works on URLs urllib would reject)
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    # 2. secret query parameters
    if "?" in text:
        head, _, rest = text.partition("?")
        query, hash_sep, fragment = rest.partition("#")
        text = f"{head}?{_redact_query(query)}{hash_sep}{fragment}"
    return text


def redact_text(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every URL passed through :func:`redact_url` and every given secret masked.

    Args:
        text: Free text (an error message, a log line); ``None`` gives ``""``.
        secrets: Exact strings to mask wherever they occur (API keys, passwords); empty
            and very short values (under 4 characters) are ignored so that ordinary words
            are never masked.
    """
    if not text:
        return "" if text is None else text
    out = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)) or "", str(text))
    out = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", out)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, MASK)
            quoted = urllib.parse.quote(secret, safe="")
            if quoted != secret:
                out = out.replace(quoted, MASK)
    return out


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``(url_without_userinfo, username, password)``; username/password are decoded, or None."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    clean = urllib.parse.urlunsplit((parts.scheme, hostport, parts.path, parts.query, parts.fragment))
    return (
        clean,
        urllib.parse.unquote(user) if user else None,
        urllib.parse.unquote(password) if sep else None,
    )


def url_secrets(url: str | None) -> list[str]:
    """The secret strings inside a URL (its password, or a user name given alone, and secret
    query values), raw and percent-decoded."""
    if not url:
        return []
    found: list[str] = []
    m = _USERINFO.search(url)
    if m:
        # the password; a user name alone is often a token (``https://TOKEN@host``): then the name
        user, sep, password = m.group("userinfo").partition(":")
        secret = password if sep and password else user
        found += [secret, urllib.parse.unquote(secret)]
    if "?" in url:
        query = url.partition("?")[2].partition("#")[0]
        for piece in query.split("&"):
            name, sep, value = piece.partition("=")
            if sep and value and urllib.parse.unquote(name).strip().lower() in SECRET_PARAMS:
                found += [value, urllib.parse.unquote(value)]
    return [s for s in dict.fromkeys(found) if s]
