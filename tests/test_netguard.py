"""Where the app may listen (embcore.netguard)."""

from __future__ import annotations

from pathlib import Path

import pytest

from embcore import netguard
from embcore.errors import EmbcoreError


@pytest.mark.parametrize(
    "address, loopback",
    [("127.0.0.1", True), ("127.0.1.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("", False), (None, False), ("192.168.1.5", False), ("::", False), ("myhost", False)],
)  # fmt: skip
def test_is_loopback(address: str | None, loopback: bool) -> None:
    assert netguard.is_loopback(address) is loopback


def test_check_bind() -> None:
    assert netguard.check_bind("127.0.0.1", public=False, auth=False) is None
    with pytest.raises(EmbcoreError, match="every interface"):
        netguard.check_bind("", public=False, auth=False)
    assert "st.login" in netguard.check_bind("0.0.0.0", public=False, auth=True)
    assert "WITHOUT a login" in netguard.check_bind("0.0.0.0", public=True, auth=False)
    assert netguard.public_ok(["--i-know-this-is-public"], env={})
    assert netguard.public_ok([], env={netguard.PUBLIC_ENV: "1"}) and not netguard.public_ok([], env={})


def test_auth_configured_from_secrets(tmp_path: Path) -> None:
    a = tmp_path / "a.toml"
    a.write_text('[auth]\nredirect_uri = "http://x/oauth2callback"\ncookie_secret = "s"\n', encoding="utf-8")
    b = tmp_path / "b.toml"
    b.write_text('[auth.google]\nclient_id = "id"\nclient_secret = "c"\n', encoding="utf-8")
    assert not netguard.auth_configured(netguard.read_secrets([a]))
    assert netguard.auth_configured(netguard.read_secrets([a, b]))
    assert not netguard.auth_configured({})
    bad = tmp_path / "bad.toml"
    bad.write_text("[auth\n", encoding="utf-8")
    with pytest.raises(EmbcoreError, match="not a valid secrets.toml"):
        netguard.read_secrets([bad])
