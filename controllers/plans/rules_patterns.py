"""Pattern rules: cycle and offset ranges, minimum splits, ring sums, barrier alignment."""

from __future__ import annotations

from controllers.plans.config import ValidatorConfig
from controllers.plans.model import Pattern, Phase
from controllers.plans.parts import PlanParts
from controllers.plans.report import Findings, seconds
from controllers.plans.rules_phase import min_split_s, ped_split_s
from controllers.plans.rules_rings import Structure


def check_patterns(
    parts: PlanParts, structure: Structure | None, rules: ValidatorConfig, out: Findings
) -> None:
    """Every pattern rule on every pattern; barrier alignment only on a consistent ring structure."""
    phases = parts.phase_map()
    in_a_ring = set(parts.ring_of())
    for k, pattern in parts.patterns:
        at, name = f"patterns[{k}]", pattern.pattern
        _cycle_and_offset(pattern, at, rules, out)
        for number, phase in sorted(phases.items()):
            # A phase in no ring is refused by same_ring_concurrency; asking for its split too would be noise.
            if parts.rings is None or number in in_a_ring:
                _split(pattern, phase, at, rules, out)
        for r, ring in enumerate(parts.rings or []):
            total = sum(pattern.split_of(n) or 0.0 for n in ring)
            if abs(total - pattern.cycle_s) > rules.tolerance_s:
                out.error("ring_sum", f"{at}.splits_s", pattern.cycle_s, seconds(total),
                          vi=f"Mẫu {name}: tổng split vòng {r + 1} là {seconds(total):g} s, "
                             f"phải bằng chu kỳ {pattern.cycle_s:g} s",
                          en=f"pattern {name}: ring {r + 1} splits sum to {seconds(total):g} s, "
                             f"not the cycle {pattern.cycle_s:g} s")
        if structure is not None:
            _barriers(pattern, structure, at, rules, out)
        if parts.rings:
            longest = max(len(ring) for ring in parts.rings)
            if pattern.cycle_s < rules.short_cycle_per_phase_s * longest:
                out.warn("cycle_short", f"{at}.cycle_s", rules.short_cycle_per_phase_s * longest, pattern.cycle_s,
                         vi=f"Mẫu {name}: chu kỳ {pattern.cycle_s:g} s rất ngắn cho {longest} pha mỗi vòng",
                         en=f"pattern {name}: cycle {pattern.cycle_s:g} s is very short "
                            f"for {longest} phases in a ring")


def _cycle_and_offset(pattern: Pattern, at: str, rules: ValidatorConfig, out: Findings) -> None:
    name, cycle, offset = pattern.pattern, pattern.cycle_s, pattern.offset_s
    if not rules.cycle_min_s <= cycle <= rules.cycle_max_s:
        out.error("cycle_range", f"{at}.cycle_s", [rules.cycle_min_s, rules.cycle_max_s], cycle,
                  vi=f"Mẫu {name}: chu kỳ {cycle:g} s phải trong khoảng {rules.cycle_min_s:g}–{rules.cycle_max_s:g} s",
                  en=f"pattern {name}: cycle {cycle:g} s must be within {rules.cycle_min_s:g}–{rules.cycle_max_s:g} s")
    if not 0 <= offset < cycle:
        out.error("offset_range", f"{at}.offset_s", f"0 ≤ offset < {cycle}", offset,
                  vi=f"Mẫu {name}: độ lệch {offset:g} s phải ≥ 0 và nhỏ hơn chu kỳ {cycle:g} s",
                  en=f"pattern {name}: offset {offset:g} s must be ≥ 0 and less than the cycle {cycle:g} s")


def _split(pattern: Pattern, phase: Phase, at: str, rules: ValidatorConfig, out: Findings) -> None:
    name, number = pattern.pattern, phase.phase
    path, split = f"{at}.splits_s.{number}", pattern.split_of(number)
    needed = min_split_s(phase)
    if split is None:
        out.error("split_min", path, seconds(needed), None,
                  vi=f"Mẫu {name}: pha {number} không có split", en=f"pattern {name}: phase {number} has no split")
        return
    if split + rules.tolerance_s < needed:
        out.error("split_min", path, seconds(needed), split,
                  vi=f"Mẫu {name}: split pha {number} là {split:g} s, cần ít nhất {seconds(needed):g} s "
                     "(xanh tối thiểu/đi bộ + vàng + đỏ toàn phần)",
                  en=f"pattern {name}: phase {number} split {split:g} s is below {seconds(needed):g} s "
                     "(min green or walk + ped clearance, + yellow + red clearance)")
        return
    usable_green = split - phase.yellow_s - phase.red_clear_s
    if phase.max_green_s > usable_green + rules.tolerance_s:
        out.warn("max_green_gt_split", path, seconds(usable_green), phase.max_green_s,
                 vi=f"Mẫu {name}: xanh tối đa pha {number} ({phase.max_green_s:g} s) dài hơn xanh khả dụng "
                    f"của split ({seconds(usable_green):g} s)",
                 en=f"pattern {name}: phase {number} max green {phase.max_green_s:g} s is longer than "
                    f"the green its split leaves ({seconds(usable_green):g} s)")
    ped_needed = ped_split_s(phase)
    if phase.ped_actuated and ped_needed is not None and split + rules.tolerance_s < ped_needed:
        out.warn("ped_split_short", path, seconds(ped_needed), split,
                 vi=f"Mẫu {name}: split pha {number} không đủ cho lượt đi bộ ({seconds(ped_needed):g} s); "
                    "mỗi lần bấm nút sẽ làm mất phối hợp",
                 en=f"pattern {name}: phase {number} split cannot serve a pedestrian call "
                    f"({seconds(ped_needed):g} s); each call will pull the controller out of coordination")


def _barriers(pattern: Pattern, structure: Structure, at: str, rules: ValidatorConfig, out: Findings) -> None:
    for g, group in enumerate(structure.groups):
        times = [sum(pattern.split_of(n) or 0.0 for n in ring_phases) for ring_phases in group]
        if max(times) - min(times) > rules.tolerance_s:
            shown = [seconds(t) for t in times]
            per_ring = " / ".join(f"{t:g}" for t in shown)
            out.error("barrier_align", f"{at}.splits_s", shown[0], shown,
                      vi=f"Mẫu {pattern.pattern}: các vòng đến rào {g + 1} không cùng lúc "
                         f"(thời gian mỗi vòng trong nhóm {g + 1}: {per_ring} s)",
                      en=f"pattern {pattern.pattern}: the rings do not reach barrier {g + 1} together "
                         f"(time of each ring in group {g + 1}: {per_ring} s)")
