"""`signalight keys`: the API's signing key and the executors' trusted keys; production refuses to run without."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.command_signing import load_signer
from gateways.command_keys import load_verify_keys
from signalight.cli import app
from signalight.command_keys import KeySetupError, api_signer, executor_keys
from signalight.settings import Settings

SECRET = "x" * 40


def test_generate_export_and_rotate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALIGHT_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    first = runner.invoke(app, ["keys", "generate"])
    assert first.exit_code == 0, first.output
    key = tmp_path / "keys" / "command-signing.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert runner.invoke(app, ["keys", "generate"]).exit_code != 0, "never overwrites a key"
    assert runner.invoke(app, ["keys", "export-public"]).exit_code == 0
    old = load_signer(key)
    second = tmp_path / "keys" / "new.pem"
    assert runner.invoke(app, ["keys", "generate", "--out", str(second)]).exit_code == 0
    assert runner.invoke(app, ["keys", "export-public", "--key", str(second)]).exit_code == 0
    verify = tmp_path / "keys" / "command-verify.json"
    new = load_signer(second)
    assert load_verify_keys(verify).kids == sorted([old.kid, new.kid]), "both valid during the rotation"
    assert runner.invoke(app, ["keys", "export-public", "--key", str(second), "--no-merge"]).exit_code == 0
    assert list(json.loads(verify.read_text())) == [new.kid]


def test_production_needs_the_keys_and_says_how(tmp_path: Path) -> None:
    s = Settings(environment="production", data_dir=tmp_path, secret_key=SECRET)
    with pytest.raises(KeySetupError, match="signalight keys generate"):
        api_signer(s)
    with pytest.raises(KeySetupError, match="export-public"):
        executor_keys(s)
    loose = tmp_path / "keys" / "command-signing.pem"
    loose.parent.mkdir()
    dev = Settings(environment="development", data_dir=tmp_path / "dev")
    signer = api_signer(dev)  # development: made on first use, and trusted by the executors of the data dir
    assert executor_keys(dev).known(signer.kid)
    assert dev.command_signing_key is not None
    loose.write_bytes(dev.command_signing_key.read_bytes())
    loose.chmod(0o644)
    with pytest.raises(KeySetupError, match="chmod 600"):
        api_signer(s)
