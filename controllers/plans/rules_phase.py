"""Per-phase rules: clearance intervals (ITE, MUTCD), walk, min and max green."""

from __future__ import annotations

from controllers.plans import clearance
from controllers.plans.config import ValidatorConfig
from controllers.plans.model import Phase
from controllers.plans.report import Findings, seconds


def check_phases(phases: list[tuple[int, Phase]], rules: ValidatorConfig, out: Findings) -> None:
    """Run every per-phase rule on every phase; paths are `phases[i].<field>`."""
    for index, phase in phases:
        at = f"phases[{index}]"
        _yellow(phase, at, rules, out)
        _red_clear(phase, at, rules, out)
        _peds(phase, at, rules, out)
        _greens(phase, at, rules, out)


def _yellow(phase: Phase, at: str, rules: ValidatorConfig, out: Findings) -> None:
    p, y = phase.phase, phase.yellow_s
    try:
        required = clearance.ite_yellow_s(
            phase.approach_speed_kph,
            phase.grade_pct,
            perception_reaction_s=rules.perception_reaction_s,
            deceleration_mps2=rules.deceleration_mps2,
            gravity_mps2=rules.gravity_mps2,
        )
    except ValueError as exc:  # a downhill grade steeper than the braking model allows
        out.error("yellow_min", f"{at}.grade_pct", None, phase.grade_pct,
                  vi=f"Pha {p}: không tính được thời gian vàng tối thiểu ({exc})",
                  en=f"phase {p}: the minimum yellow cannot be computed ({exc})")
        required = None
    if required is not None and y + rules.tolerance_s < required:
        out.error("yellow_min", f"{at}.yellow_s", seconds(required), y,
                  vi=f"Pha {p}: đèn vàng {y:g} s ngắn hơn mức tối thiểu ITE {seconds(required):g} s "
                     f"cho tốc độ {phase.approach_speed_kph:g} km/h, độ dốc {phase.grade_pct:g} %",
                  en=f"phase {p}: yellow {y:g} s is shorter than the ITE kinematic minimum {seconds(required):g} s "
                     f"for {phase.approach_speed_kph:g} km/h on a {phase.grade_pct:g} % grade")
    elif required is not None and y > max(required, rules.yellow_min_s) + rules.yellow_excess_warn_s:
        out.warn("yellow_long", f"{at}.yellow_s", seconds(max(required, rules.yellow_min_s)), y,
                 vi=f"Pha {p}: đèn vàng {y:g} s dài hơn nhiều so với mức cần {seconds(required):g} s; "
                    "vàng quá dài khiến lái xe coi vàng như xanh",
                 en=f"phase {p}: yellow {y:g} s is much longer than the {seconds(required):g} s needed; "
                    "long yellows teach drivers to treat yellow as green")
    top = rules.yellow_max_s
    if required is not None and required > rules.yellow_max_s + rules.tolerance_s:
        # No yellow meets both the ITE minimum and the cap: the minimum is physics (a driver who cannot stop
        # must not be caught in the junction), the cap is policy, so the cap gives way, with a warning.
        top = clearance.tenth_up(required)
        cap, need, v = rules.yellow_max_s, seconds(required), phase.approach_speed_kph
        out.warn("yellow_cap_clash", f"{at}.yellow_s", cap, need,
                 vi=f"Pha {p}: đèn vàng tối thiểu theo ITE {need:g} s ở {v:g} km/h vượt mức trần {cap:g} s, "
                    f"không giá trị nào thỏa cả hai; mức trần được nới tới {top:g} s. Nên giảm tốc độ tiếp cận, "
                    "đặt biển hoặc đèn nháy báo trước (chuẩn bị dừng), và bảo đảm đỏ toàn phần đủ giải tỏa nút",
                 en=f"phase {p}: the ITE minimum yellow {need:g} s at {v:g} km/h exceeds the {cap:g} s cap, so no "
                    f"yellow satisfies both; the cap gives way up to {top:g} s. Consider a lower approach speed, "
                    "advance warning (signal-ahead signs or prepare-to-stop flashers), and a red clearance that "
                    "clears the junction")
    if not rules.yellow_min_s - rules.tolerance_s <= y <= top + rules.tolerance_s:
        out.error("yellow_range", f"{at}.yellow_s", [rules.yellow_min_s, top], y,
                  vi=f"Pha {p}: đèn vàng {y:g} s phải trong khoảng {rules.yellow_min_s:g}–{top:g} s",
                  en=f"phase {p}: yellow {y:g} s must be within {rules.yellow_min_s:g}–{top:g} s")


def _red_clear(phase: Phase, at: str, rules: ValidatorConfig, out: Findings) -> None:
    p, r = phase.phase, phase.red_clear_s
    required = clearance.red_clearance_s(
        phase.approach_speed_kph, phase.clearing_width_m, vehicle_length_m=rules.vehicle_length_m
    )
    if r + rules.tolerance_s < required:
        out.error("red_clear_min", f"{at}.red_clear_s", seconds(required), r,
                  vi=f"Pha {p}: đỏ toàn phần {r:g} s ngắn hơn (W + L) / v = {seconds(required):g} s "
                     f"(W = {phase.clearing_width_m:g} m)",
                  en=f"phase {p}: red clearance {r:g} s is shorter than (W + L) / v = {seconds(required):g} s "
                     f"(W = {phase.clearing_width_m:g} m)")
    top = rules.red_clear_max_s
    if required > rules.red_clear_max_s + rules.tolerance_s:
        # As for yellow: the cap is policy, (W + L) / v is what the junction needs, so the cap gives way.
        # A lower speed would not help here: slower vehicles need *more* time to clear the same width.
        top = clearance.tenth_up(required)
        cap, need, w, v = rules.red_clear_max_s, seconds(required), phase.clearing_width_m, phase.approach_speed_kph
        out.warn("red_clear_cap_clash", f"{at}.red_clear_s", cap, need,
                 vi=f"Pha {p}: đỏ toàn phần cần (W + L) / v = {need:g} s để qua {w:g} m ở {v:g} km/h, vượt mức "
                    f"trần {cap:g} s, không giá trị nào thỏa cả hai; mức trần được nới tới {top:g} s. Nên kiểm "
                    "tra bề rộng giải tỏa và tốc độ, dùng kéo dài đỏ theo đầu dò thay cho đỏ cố định dài, "
                    "hoặc thu hẹp nút (vạch dừng lùi, đảo phân luồng)",
                 en=f"phase {p}: crossing {w:g} m at {v:g} km/h needs a red clearance (W + L) / v = {need:g} s, "
                    f"over the {cap:g} s cap, so no red clearance satisfies both; the cap gives way up to "
                    f"{top:g} s. Check the clearing width and speed, and consider a detector-driven red "
                    "extension instead of a long fixed red, or narrowing the junction (channelisation)")
    if r > top + rules.tolerance_s:
        out.error("red_clear_max", f"{at}.red_clear_s", top, r,
                  vi=f"Pha {p}: đỏ toàn phần {r:g} s vượt quá {top:g} s",
                  en=f"phase {p}: red clearance {r:g} s exceeds {top:g} s")


def _peds(phase: Phase, at: str, rules: ValidatorConfig, out: Findings) -> None:
    p = phase.phase
    if phase.walk_s is None or phase.ped_clear_s is None or phase.crosswalk_m is None:
        if phase.ped_actuated:
            out.warn("ped_actuated_no_ped", f"{at}.ped_actuated", False, True,
                     vi=f"Pha {p}: có nút bấm bộ hành nhưng không có thời gian đi bộ",
                     en=f"phase {p}: pedestrian-actuated but has no pedestrian timing")
        return
    required = clearance.ped_clearance_s(phase.crosswalk_m, walking_speed_mps=rules.ped_walking_speed_mps)
    if phase.ped_clear_s + rules.tolerance_s < required:
        out.error("ped_clear_min", f"{at}.ped_clear_s", seconds(required), phase.ped_clear_s,
                  vi=f"Pha {p}: thời gian giải tỏa bộ hành {phase.ped_clear_s:g} s ngắn hơn "
                     f"{phase.crosswalk_m:g} m / {rules.ped_walking_speed_mps:g} m/s = {seconds(required):g} s",
                  en=f"phase {p}: pedestrian clearance {phase.ped_clear_s:g} s is shorter than "
                     f"{phase.crosswalk_m:g} m / {rules.ped_walking_speed_mps:g} m/s = {seconds(required):g} s")
    total = phase.walk_s + phase.ped_clear_s
    needed = clearance.ped_total_s(phase.crosswalk_m, walking_speed_mps=rules.ped_total_walking_speed_mps,
                                   extra_m=rules.ped_total_extra_m)
    if total + rules.tolerance_s < needed:
        # Reported on the walk: the ped clearance is sized by its own rule, lengthening the walk is the fix.
        walk_needed = seconds(needed - phase.ped_clear_s)
        speed, extra = rules.ped_total_walking_speed_mps, rules.ped_total_extra_m
        out.warn("ped_total_short", f"{at}.walk_s", walk_needed, phase.walk_s,
                 vi=f"Pha {p}: đi bộ + giải tỏa bộ hành = {total:g} s, ngắn hơn ({phase.crosswalk_m:g} m + "
                    f"{extra:g} m) / {speed:g} m/s = {seconds(needed):g} s (MUTCD 4E.06); nên tăng thời gian "
                    f"đi bộ lên {walk_needed:g} s",
                 en=f"phase {p}: walk + pedestrian clearance = {total:g} s is shorter than "
                    f"({phase.crosswalk_m:g} m + {extra:g} m) / {speed:g} m/s = {seconds(needed):g} s "
                    f"(MUTCD 4E.06); lengthen the walk to {walk_needed:g} s")
    if phase.walk_s + rules.tolerance_s < rules.walk_min_s:
        out.error("walk_min", f"{at}.walk_s", rules.walk_min_s, phase.walk_s,
                  vi=f"Pha {p}: thời gian đi bộ {phase.walk_s:g} s ngắn hơn {rules.walk_min_s:g} s",
                  en=f"phase {p}: walk {phase.walk_s:g} s is shorter than {rules.walk_min_s:g} s")


def _greens(phase: Phase, at: str, rules: ValidatorConfig, out: Findings) -> None:
    p = phase.phase
    if phase.min_green_s + rules.tolerance_s < rules.min_green_min_s:
        out.error("min_green", f"{at}.min_green_s", rules.min_green_min_s, phase.min_green_s,
                  vi=f"Pha {p}: xanh tối thiểu {phase.min_green_s:g} s nhỏ hơn {rules.min_green_min_s:g} s",
                  en=f"phase {p}: minimum green {phase.min_green_s:g} s is below {rules.min_green_min_s:g} s")
    if phase.max_green_s + rules.tolerance_s < phase.min_green_s:
        out.error("max_lt_min", f"{at}.max_green_s", phase.min_green_s, phase.max_green_s,
                  vi=f"Pha {p}: xanh tối đa {phase.max_green_s:g} s nhỏ hơn xanh tối thiểu {phase.min_green_s:g} s",
                  en=f"phase {p}: maximum green {phase.max_green_s:g} s is less than "
                     f"minimum green {phase.min_green_s:g} s")


def min_split_s(phase: Phase) -> float:
    """Shortest split (s) that serves `phase`: its green, then yellow and red clearance.

    The green must last the minimum green and, when pedestrians are served on every cycle (not actuated),
    also the walk plus pedestrian clearance. Walk and flashing DON'T WALK run *during* the vehicle green, so
    the green is the longer of the two, not their sum (FHWA Signal Timing Manual, minimum split).
    """
    green = phase.min_green_s
    if phase.walk_s is not None and phase.ped_clear_s is not None and not phase.ped_actuated:
        green = max(green, phase.walk_s + phase.ped_clear_s)
    return green + phase.yellow_s + phase.red_clear_s


def ped_split_s(phase: Phase) -> float | None:
    """Split (s) a pedestrian call needs: walk + ped clearance + yellow + red; None without peds."""
    if phase.walk_s is None or phase.ped_clear_s is None:
        return None
    return max(phase.min_green_s, phase.walk_s + phase.ped_clear_s) + phase.yellow_s + phase.red_clear_s
