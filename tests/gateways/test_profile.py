"""Register map loading: the shipped maps validate; a broken one is refused with the file and the fault named."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateways.modbus.profile import ProfileError, load_profile, load_profile_file


def test_shipped_maps_load() -> None:
    signal = load_profile("signal-controller-v1")
    assert signal.kind == "signal_controller"
    assert signal.point("mode").enum == {0: "dark", 1: "flash", 2: "free", 3: "coordinated", 4: "manual_hold",
                                         5: "preempt"}
    cabinet = load_profile("lighting-cabinet-v1")
    assert cabinet.point("energy_kwh").word_order == "little"
    assert set(cabinet.commands) == {"switch", "release"}


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(FileNotFoundError, match="signal-controller-v1"):
        load_profile("nope-v9")


@pytest.mark.parametrize(("body", "fault"), [
    ("profile: x\nkind: signal_controller\npoll_groups: {}\npoints:\n"
     "  - {name: a, table: input, address: 0, type: u64, access: r}\n", "points.0.type"),
    ("profile: x\nkind: signal_controller\npoll_groups: {}\npoints:\n"
     "  - {name: a, table: coil, address: 0, type: u16, access: r}\n", "does not fit table coil"),
    ("profile: x\nkind: signal_controller\npoll_groups: {}\npoints:\n"
     "  - {name: a, table: input, address: 0, type: u16, access: r, poll_group: fast}\n", "unknown poll group"),
    ("profile: x\nkind: toaster\npoll_groups: {}\npoints: []\n", "kind"),
    ("profile: x\nkind: signal_controller\npoll_groups: {}\npoints: []\ncommands:\n  go: {writes: {nothing: 1}}\n",
     "writes unknown point"),
    ("profile: [x\n", "not valid YAML"),
])
def test_broken_map_is_refused_naming_file_and_fault(tmp_path: Path, body: str, fault: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ProfileError, match=fault) as info:
        load_profile_file(path)
    assert str(path) in str(info.value)
