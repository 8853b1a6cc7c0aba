"""No environment signs tokens with a key from the repository: development and demo make a random key per data
directory (0600, reused across restarts); a published key is refused everywhere; a token whose subject is not an
active user is refused even when it is correctly signed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.config import FORMER_DEV_SECRET, ApiSettings
from api.security import Role, issue_token
from api.token_key import TokenKeyError, load_or_create_token_key
from signalight.processes import api_settings
from signalight.settings import load_settings
from tests.api.conftest import Harness


@pytest.mark.parametrize("environment", ["development", "demo"])
def test_each_data_dir_gets_its_own_private_key_reused_across_restarts(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, environment: str) -> None:
    monkeypatch.delenv("SIGNALIGHT_SECRET_KEY", raising=False)
    monkeypatch.setenv("SIGNALIGHT_ENVIRONMENT", environment)
    keys = []
    for data_dir in ("a", "a", "b"):
        monkeypatch.setenv("SIGNALIGHT_DATA_DIR", str(tmp_path / data_dir))
        keys.append(api_settings(load_settings()).secret_key)
    assert keys[0] == keys[1], "a restart on the same data dir keeps the key (tokens survive it)"
    assert keys[0] != keys[2], "another data dir has another key"
    assert FORMER_DEV_SECRET not in keys and all(len(k) >= 32 for k in keys)
    path = tmp_path / "a" / "keys" / "token-signing.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == keys[0]


def test_api_settings_alone_never_share_a_key() -> None:
    assert ApiSettings().secret_key != ApiSettings().secret_key


@pytest.mark.parametrize("environment", ["development", "demo", "production"])
def test_the_key_once_published_in_the_repo_is_refused_everywhere(environment: str) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        ApiSettings(environment=environment, secret_key=FORMER_DEV_SECRET)  # type: ignore[arg-type]


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "token-signing.key"
    key = load_or_create_token_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(TokenKeyError, match="0644"):
        load_or_create_token_key(path)
    os.chmod(path, 0o600)
    assert load_or_create_token_key(path) == key


async def test_a_signed_token_for_no_user_or_a_disabled_one_is_refused(harness: Harness) -> None:
    settings = harness.state.settings
    ghost, _ = issue_token(settings.secret_key, subject="ghost", role=Role.ADMIN, typ="access",
                           now=harness.clock.now(), ttl_s=600)
    resp = await harness.client.get("/api/v1/users", headers={"Authorization": f"Bearer {ghost}"})
    assert resp.status_code == 401, resp.text
    admin = harness.token("admin")
    assert (await harness.client.patch("/api/v1/users/viewer", headers=admin,
                                       json={"active": False})).status_code == 200
    viewer, _ = issue_token(settings.secret_key, subject="viewer", role=Role.VIEWER, typ="access",
                            now=harness.clock.now(), ttl_s=600, version=1)  # even with the new version
    resp = await harness.client.get("/api/v1/devices", headers={"Authorization": f"Bearer {viewer}"})
    assert resp.status_code == 401, resp.text
