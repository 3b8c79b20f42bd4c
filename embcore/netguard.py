"""Where the app may listen: loopback by default, beyond it only with a login or an explicit opt-in.

The app has no passwords of its own: on a loopback address (127.0.0.0/8, ``::1``,
``localhost``) only the machine's user can reach it, and a reviewer just types a name. A
server bound beyond loopback (``0.0.0.0``, ``""`` = every interface, a LAN address) would let
anyone who reaches it read and change every review. It is refused unless Streamlit's built-in
authentication is configured (an ``[auth]`` section in ``.streamlit/secrets.toml``: ``st.login``
with an OIDC provider; the logged-in user becomes the reviewer) or the operator says
``--i-know-this-is-public``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from embcore.errors import EmbcoreError

log = logging.getLogger(__name__)

PUBLIC_FLAG = "--i-know-this-is-public"
PUBLIC_ENV = "EMBCORE_I_KNOW_THIS_IS_PUBLIC"
"""Set to 1 by ``embcore app --i-know-this-is-public`` for the app process it starts."""


def is_loopback(address: str | None) -> bool:
    """Whether a bind address is reachable from this machine only.

    ``""`` and ``None`` mean every interface (Streamlit's default when nothing is configured).
    """
    host = (address or "").strip().strip("[]")
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def auth_configured(secrets: Mapping[str, Any] | None) -> bool:
    """Whether Streamlit secrets hold an ``[auth]`` section usable by ``st.login`` (a redirect URI and
    a cookie secret, plus a provider: ``client_id`` at the top or in a named sub-section)."""
    auth = (secrets or {}).get("auth")
    if not isinstance(auth, Mapping):
        return False
    if not auth.get("redirect_uri") or not auth.get("cookie_secret"):
        return False
    if auth.get("client_id"):
        return True
    return any(isinstance(v, Mapping) and v.get("client_id") for v in auth.values())


def secrets_files(app_dir: str | Path) -> list[Path]:
    """Where Streamlit reads secrets: the user's ``~/.streamlit/secrets.toml`` and the app's own."""
    return [Path.home() / ".streamlit" / "secrets.toml", Path(app_dir) / ".streamlit" / "secrets.toml"]


def read_secrets(paths: Iterable[Path]) -> dict[str, Any]:
    """The merged TOML of the secrets files that exist (later files win, section by section).

    Raises:
        EmbcoreError: a secrets file that is not valid TOML.
    """
    out: dict[str, Any] = {}
    for p in paths:
        if p.is_file():
            try:
                _merge(out, tomllib.loads(p.read_text(encoding="utf-8")))
            except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
                raise EmbcoreError(f"{p}: not a valid secrets.toml ({exc})") from exc
    return out


def _merge(into: dict[str, Any], new: Mapping[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = dict(v) if isinstance(v, Mapping) else v


def public_ok(argv: Iterable[str] = (), env: Mapping[str, str] | None = None) -> bool:
    """Whether the operator opted in to a public address (the flag, or the environment the CLI sets)."""
    env = os.environ if env is None else env
    return PUBLIC_FLAG in list(argv) or env.get(PUBLIC_ENV, "") == "1"


def check_bind(address: str | None, *, public: bool, auth: bool) -> str | None:
    """Refuse a non-loopback address without a login or the explicit opt-in.

    Returns:
        None on a loopback address; a warning line when serving beyond loopback is allowed.

    Raises:
        EmbcoreError: a non-loopback address, no login configured and no opt-in.
    """
    if is_loopback(address):
        return None
    shown = address if address else "every interface (server.address is empty)"
    if auth:
        return f"serving on {shown}: reviewers log in through st.login (the [auth] secrets)"
    if public:
        return f"serving on {shown} WITHOUT a login ({PUBLIC_FLAG}): anyone who reaches it can read and change every review"
    raise EmbcoreError(
        f"refusing to serve on {shown}: it is not a loopback address and no login is configured, so anyone who "
        f"reaches it could read and change every review. Configure st.login (an [auth] section in "
        f".streamlit/secrets.toml, see docs/app.md) or pass {PUBLIC_FLAG}"
    )
