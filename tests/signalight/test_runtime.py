"""A process the broker refuses for good (credentials, authorization) exits 1 with the reason logged once, not a
traceback, whether the refusal comes alone (the recorder) or out of a task group (the Bus)."""

from __future__ import annotations

import pytest

from gateways.mqtt import BrokerRefusedError
from signalight.runtime import run


@pytest.mark.parametrize("grouped", [False, True])
def test_a_refused_process_exits_1_naming_the_reason(grouped: bool, caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        error = BrokerRefusedError("broker refused the connection: 0x05 (not authorized)")
        raise ExceptionGroup("bus", [error]) if grouped else error

    with pytest.raises(SystemExit) as exited:
        run(main, name="gateway")
    assert exited.value.code == 1
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].startswith("broker_refused part=gateway error=")
    assert "0x05 (not authorized)" in errors[0]
