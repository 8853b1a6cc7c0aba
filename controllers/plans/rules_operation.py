"""Rules that depend on how the schedule runs the phases: actuated phases need a passage time, and a phase's
max green in free operation should stay near the green its coordinated splits give it."""

from __future__ import annotations

from controllers.plans.config import ValidatorConfig
from controllers.plans.parts import PlanParts
from controllers.plans.report import Findings, seconds


def check_operation(parts: PlanParts, rules: ValidatorConfig, out: Findings) -> None:
    """Warnings `passage_zero` and `max_green_free_long`."""
    free = any(event.action == "free" for _, day in parts.day_plans for event in day.events)
    # In free operation every phase is actuated; in a pattern every phase but the coordinated ones is.
    actuated: set[int] = set(parts.phase_numbers) if free else set()
    for _, pattern in parts.patterns:
        actuated |= set(parts.phase_numbers) - set(pattern.coord_phases)
    for index, phase in parts.phases:
        p, at = phase.phase, f"phases[{index}]"
        if p in actuated and phase.passage_s <= rules.tolerance_s:
            out.warn("passage_zero", f"{at}.passage_s", "> 0", phase.passage_s,
                     vi=f"Pha {p}: thời gian gia hạn (passage) bằng 0 trên pha cảm ứng; pha sẽ hết xanh ngay khi "
                        "hết xanh tối thiểu dù xe vẫn đang đến",
                     en=f"phase {p}: passage 0 s on an actuated phase; it gaps out at the end of its minimum "
                        "green however much traffic is still arriving")
        greens = [split - phase.yellow_s - phase.red_clear_s
                  for _, pattern in parts.patterns if (split := pattern.split_of(p)) is not None]
        if not free or not greens:
            continue
        limit = rules.free_max_green_ratio * max(greens)
        if phase.max_green_s > limit + rules.tolerance_s:
            out.warn("max_green_free_long", f"{at}.max_green_s", seconds(limit), phase.max_green_s,
                     vi=f"Pha {p}: xanh tối đa {phase.max_green_s:g} s khi chạy tự do dài hơn nhiều so với xanh "
                        f"dài nhất mà các split cho ({seconds(max(greens)):g} s); chu kỳ tự do có thể dài gấp "
                        "bội chu kỳ phối hợp",
                     en=f"phase {p}: max green {phase.max_green_s:g} s in free operation is far above the "
                        f"longest green its splits give ({seconds(max(greens)):g} s); the free cycle can grow "
                        "far longer than the coordinated one")
