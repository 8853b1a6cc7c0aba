"""The clearance formulas against hand calculations."""

from __future__ import annotations

import pytest

from controllers.plans import ite_yellow_s, kph_to_mps, ped_clearance_s, red_clearance_s


def test_ite_yellow_50_kph_level_is_3_28_s() -> None:
    # By hand: v = 50 / 3.6 = 13.889 m/s; Y = 1.0 + 13.889 / (2 × 3.05) = 1.0 + 2.277 = 3.277 s.
    assert ite_yellow_s(50, 0) == pytest.approx(3.277, abs=0.001)


def test_uphill_shortens_and_downhill_lengthens_yellow() -> None:
    # 4 % downhill: 1.0 + 13.889 / (6.1 − 2 × 0.04 × 9.81) = 1.0 + 13.889 / 5.3152 = 3.613 s.
    assert ite_yellow_s(50, -4) == pytest.approx(3.613, abs=0.001)
    assert ite_yellow_s(50, 4) < ite_yellow_s(50, 0) < ite_yellow_s(50, -4)


def test_red_clearance_is_width_plus_vehicle_over_speed() -> None:
    # (20 m + 6 m) / 13.889 m/s = 1.872 s.
    assert red_clearance_s(50, 20) == pytest.approx(1.872, abs=0.001)
    assert red_clearance_s(50, 20, vehicle_length_m=0) == pytest.approx(20 / kph_to_mps(50))


def test_ped_clearance_is_crosswalk_over_walking_speed() -> None:
    assert ped_clearance_s(14) == pytest.approx(13.084, abs=0.001)
    assert ped_clearance_s(14, walking_speed_mps=0.9) == pytest.approx(15.556, abs=0.001)


@pytest.mark.parametrize("speed", [0, -10])
def test_speed_must_be_positive(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        ite_yellow_s(speed, 0)
    with pytest.raises(ValueError, match="speed"):
        red_clearance_s(speed, 20)


def test_grade_too_steep_to_stop_is_refused() -> None:
    with pytest.raises(ValueError, match="too steep"):
        ite_yellow_s(50, -40)
