"""Pattern rules: cycle and offset ranges, minimum splits, ring sums, barrier alignment, whole seconds."""

from __future__ import annotations

from controllers.plans.config import ValidatorConfig
from controllers.plans.cycle import ring_totals_s
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
        for r, total, rest in _ring_totals(pattern, parts, structure):
            if abs(total - pattern.cycle_s) > rules.tolerance_s:
                vi_rest = f" (gồm {seconds(rest):g} s nghỉ ở các nhóm rào không có pha của vòng)" if rest else ""
                en_rest = f" (with {seconds(rest):g} s resting through groups it has no phase in)" if rest else ""
                out.error("ring_sum", f"{at}.splits_s", pattern.cycle_s, seconds(total),
                          vi=f"Mẫu {name}: tổng split vòng {r + 1} là {seconds(total):g} s{vi_rest}, "
                             f"phải bằng chu kỳ {pattern.cycle_s:g} s",
                          en=f"pattern {name}: ring {r + 1} splits sum to {seconds(total):g} s{en_rest}, "
                             f"not the cycle {pattern.cycle_s:g} s")
        if structure is not None:
            _barriers(pattern, structure, at, rules, out)
        _whole_seconds(pattern, at, rules, out)
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


def _ring_totals(
    pattern: Pattern, parts: PlanParts, structure: Structure | None
) -> list[tuple[int, float, float]]:
    """(ring index, splits + rest time, rest time) of each ring whose total can be known.

    With a consistent structure a ring resting through a group counts that group's time. While the structure
    is refused, group times are unknown: only rings with a phase in every barrier group are summed (plainly),
    the others would only repeat the structural error.
    """
    if structure is not None:
        totals = ring_totals_s(pattern, structure)
        return [(r, total, total - sum(pattern.split_of(n) or 0.0 for n in ring))
                for r, (ring, total) in enumerate(zip(structure.rings, totals, strict=True))]
    found = []
    for r, ring in enumerate(parts.rings or []):
        if parts.barriers is None or all(set(ring) & set(group) for group in parts.barriers):
            found.append((r, sum(pattern.split_of(n) or 0.0 for n in ring), 0.0))
    return found


def _barriers(pattern: Pattern, structure: Structure, at: str, rules: ValidatorConfig, out: Findings) -> None:
    """Rings that have phases in a group reach its barrier together; a ring resting through it is not compared."""
    for g, group in enumerate(structure.groups):
        present = structure.rings_in(g)
        times = [sum(pattern.split_of(n) or 0.0 for n in group[r]) for r in present]
        if max(times) - min(times) > rules.tolerance_s:
            shown = [seconds(t) for t in times]
            per_ring = ", ".join(f"{r + 1}: {t:g}" for r, t in zip(present, shown, strict=True))
            out.error("barrier_align", f"{at}.splits_s", shown[0], shown,
                      vi=f"Mẫu {pattern.pattern}: các vòng đến rào {g + 1} không cùng lúc "
                         f"(thời gian trong nhóm {g + 1} theo vòng {per_ring} s)",
                      en=f"pattern {pattern.pattern}: the rings do not reach barrier {g + 1} together "
                         f"(time in group {g + 1} by ring {per_ring} s)")


def _whole_seconds(pattern: Pattern, at: str, rules: ValidatorConfig, out: Findings) -> None:
    """NTCIP 1202 holds cycle, offset and split times in whole seconds: a fraction is lost on the way to a
    controller that speaks NTCIP, so the plan would not run as written there."""
    values = [("cycle_s", pattern.cycle_s), ("offset_s", pattern.offset_s)]
    values += [(f"splits_s.{key}", value) for key, value in sorted(pattern.splits_s.items(), key=lambda i: int(i[0]))]
    for field, value in values:
        if abs(value - round(value)) > rules.tolerance_s:
            out.warn("not_whole_seconds", f"{at}.{field}", round(value), value,
                     vi=f"Mẫu {pattern.pattern}: {field} = {value:g} s không phải số giây nguyên; NTCIP 1202 "
                        "lưu chu kỳ, độ lệch và split theo giây nguyên nên bộ điều khiển NTCIP sẽ làm tròn",
                     en=f"pattern {pattern.pattern}: {field} = {value:g} s is not a whole number of seconds; "
                        "NTCIP 1202 holds cycle, offset and splits in whole seconds, so an NTCIP controller "
                        "would round it")
