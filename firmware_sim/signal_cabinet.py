"""What a signal cabinet is wired and programmed for, apart from the controller: the MMU's permissive matrix
(its compatibility card), which phases flash yellow, the preemption inputs, and whether a conflict flash may be
reset remotely. A downloaded timing plan cannot change any of it: that is the point of an independent monitor.

The default is the NEMA dual-ring cabinet: compatible pairs 1-5, 1-6, 2-5, 2-6, 3-7, 3-8, 4-7, 4-8; the main
street throughs 2 and 6 flash yellow, everything else red. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from firmware_sim.plan import Plan, PlanError

NEMA_DUAL_RING = frozenset(frozenset(p) for p in ((1, 5), (1, 6), (2, 5), (2, 6), (3, 7), (3, 8), (4, 7), (4, 8)))
CHANNELS = 16


PREEMPTS = 6        # NEMA TS2 preempt inputs


@dataclass(frozen=True, slots=True)
class Preemption:
    """A railroad/emergency preempt input and its run: entry (the running greens end, their min green, walk and
    pedestrian clearance cut to the `entry_*` values where set; yellow and red clearance never), track clearance
    phases green for `track_clear_s` (with `gate_down`: until the gate-down input too, at most
    `track_clear_max_s`), then dwell phases while the input holds (at least `min_dwell_s`), then the exit phases.
    `link`: a higher-numbered preempt that takes over the dwell once this one's min dwell is over, held while this
    one's input is on (NTCIP preemptLink). Priority: railroad before emergency, then the lower number. Times in s."""

    track_phases: tuple[int, ...] = ()
    track_clear_s: float = 15.0
    dwell_phases: tuple[int, ...] = (2, 6)
    min_dwell_s: float = 10.0
    exit_phases: tuple[int, ...] = (2, 6)
    max_presence_s: float = 600.0
    number: int = 1
    railroad: bool = True
    entry_min_green_s: float | None = None
    entry_walk_s: float | None = None
    entry_ped_clear_s: float | None = None
    gate_down: bool = False
    track_clear_max_s: float = 60.0
    link: int | None = None
    exit_flash: bool = False        # exit to flash instead of the exit phases (held until a central release)

    def outranks(self, other: Preemption) -> bool:
        """Does this preempt override `other` (railroad first, then the lower input number)?"""
        return (not self.railroad, self.number) < (not other.railroad, other.number)


@dataclass(frozen=True, slots=True)
class SignalCabinet:
    permissive: frozenset[frozenset[int]] = NEMA_DUAL_RING
    flash_yellow: frozenset[int] = frozenset({2, 6})
    remote_conflict_reset: bool = True
    preemption: Preemption = field(default_factory=Preemption)     # input 1
    more_preempts: tuple[Preemption, ...] = ()                      # inputs 2..6

    @property
    def preempts(self) -> dict[int, Preemption]:
        """Every wired preempt input by number."""
        return {self.preemption.number: self.preemption, **{p.number: p for p in self.more_preempts}}

    def compatible(self, a: int, b: int) -> bool:
        return a == b or frozenset((a, b)) in self.permissive

    def forbidden_pairs(self, plan: Plan) -> list[tuple[int, int]]:
        """Pairs of phases that `plan` lets time together but this cabinet's matrix does not permit."""
        phases = sorted(plan.phases)
        return [(a, b) for i, a in enumerate(phases) for b in phases[i + 1:]
                if not plan.conflicts(a, b) and not self.compatible(a, b)]

    def check_plan(self, plan: Plan) -> None:
        """Raise PlanError when the plan would run phases together that the MMU forbids (or flash a phase yellow
        with a conflicting one)."""
        bad = self.forbidden_pairs(plan)
        if bad:
            pairs = ", ".join(f"{a}+{b}" for a, b in bad)
            raise PlanError(f"rings/barriers: the cabinet's conflict monitor forbids {pairs} together")

    @classmethod
    def from_doc(cls, doc: dict[str, Any], where: str = "cabinet") -> SignalCabinet:
        """From JSON: {"permissive": [[1, 5], ...], "flash_yellow": [2, 6], "remote_conflict_reset": true,
        "preemption": {...}}; missing keys keep the defaults. Raises ValueError naming the field."""
        base = cls()
        permissive = base.permissive
        if "permissive" in doc:
            raw = doc["permissive"]
            if not isinstance(raw, list):
                raise ValueError(f"{where}.permissive: expected a list of phase pairs, found {raw!r}")
            pairs = [_phases(pair, f"{where}.permissive[{i}]") for i, pair in enumerate(raw)]
            if any(len(pair) != 2 or pair[0] == pair[1] for pair in pairs):
                raise ValueError(f"{where}.permissive: every entry is a pair of two different phases")
            permissive = frozenset(frozenset(pair) for pair in pairs)
        flash_yellow = frozenset(_phases(doc["flash_yellow"], f"{where}.flash_yellow")) \
            if "flash_yellow" in doc else base.flash_yellow
        remote = doc.get("remote_conflict_reset", True)
        if not isinstance(remote, bool):
            raise ValueError(f"{where}.remote_conflict_reset: expected true or false, found {remote!r}")
        pre = _preemption(doc.get("preemption", {}), f"{where}.preemption", 1)
        raw_more = doc.get("preempts", [])
        if not isinstance(raw_more, list):
            raise ValueError(f"{where}.preempts: expected a list of preempts, found {raw_more!r}")
        more = tuple(_preemption(p, f"{where}.preempts[{i}]", None) for i, p in enumerate(raw_more))
        numbers = [pre.number, *(p.number for p in more)]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"{where}.preempts: each preempt number once (input 1 is `preemption`), found "
                             f"{numbers}")
        for p in (pre, *more):
            if p.link is not None and (p.link not in numbers or p.link <= p.number):
                raise ValueError(f"{where}.preempts: preempt {p.number} links to {p.link}, which must be a "
                                 "higher-numbered preempt of this cabinet")
        return cls(permissive, flash_yellow, remote, pre, more)


def _phase(value: Any, at: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= CHANNELS:
        raise ValueError(f"{at}: expected a phase 1..{CHANNELS}, found {value!r}")
    return value


def _phases(value: Any, at: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise ValueError(f"{at}: expected a list of phases, found {value!r}")
    return tuple(_phase(v, f"{at}[{i}]") for i, v in enumerate(value))


def _seconds(value: Any, at: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{at}: expected a finite number of seconds >= 0, found {value!r}")
    return float(value)


PREEMPT_KEYS = frozenset({"number", "railroad", "track_phases", "track_clear_s", "dwell_phases", "min_dwell_s",
                          "exit_phases", "max_presence_s", "entry_min_green_s", "entry_walk_s", "entry_ped_clear_s",
                          "gate_down", "track_clear_max_s", "link", "exit_flash"})


def _preemption(raw: Any, at: str, number: int | None) -> Preemption:
    """One preempt from JSON; `number` fixed (input 1: `preemption`) or required in it (`preempts[]`)."""
    if not isinstance(raw, dict):
        raise ValueError(f"{at}: expected an object, found {raw!r}")
    unknown = sorted(set(raw) - PREEMPT_KEYS)
    if unknown:
        raise ValueError(f"{at}: unknown field {unknown[0]!r}")
    base = Preemption()
    if number is None:
        if "number" not in raw:
            raise ValueError(f"{at}.number: required (2..{PREEMPTS})")
        number = raw["number"]
        if isinstance(number, bool) or not isinstance(number, int) or not 2 <= number <= PREEMPTS:
            raise ValueError(f"{at}.number: expected a preempt input 2..{PREEMPTS}, found {number!r}")
    elif raw.get("number", number) != number:
        raise ValueError(f"{at}.number: `preemption` is input {number}, found {raw['number']!r}")

    def flag(key: str, default: bool) -> bool:
        value = raw.get(key, default)
        if not isinstance(value, bool):
            raise ValueError(f"{at}.{key}: expected true or false, found {value!r}")
        return value

    def optional_s(key: str) -> float | None:
        return None if raw.get(key) is None else _seconds(raw[key], f"{at}.{key}")

    link = raw.get("link")
    if link is not None and (isinstance(link, bool) or not isinstance(link, int) or not 1 <= link <= PREEMPTS):
        raise ValueError(f"{at}.link: expected a preempt input 1..{PREEMPTS}, found {link!r}")
    pre = Preemption(
        _phases(raw.get("track_phases", list(base.track_phases)), f"{at}.track_phases"),
        _seconds(raw.get("track_clear_s", base.track_clear_s), f"{at}.track_clear_s"),
        _phases(raw.get("dwell_phases", list(base.dwell_phases)), f"{at}.dwell_phases"),
        _seconds(raw.get("min_dwell_s", base.min_dwell_s), f"{at}.min_dwell_s"),
        _phases(raw.get("exit_phases", list(base.exit_phases)), f"{at}.exit_phases"),
        _seconds(raw.get("max_presence_s", base.max_presence_s), f"{at}.max_presence_s"),
        number, flag("railroad", number == 1),
        optional_s("entry_min_green_s"), optional_s("entry_walk_s"), optional_s("entry_ped_clear_s"),
        flag("gate_down", False),
        _seconds(raw.get("track_clear_max_s", base.track_clear_max_s), f"{at}.track_clear_max_s"), link,
        flag("exit_flash", False))
    if pre.track_clear_max_s < pre.track_clear_s:
        raise ValueError(f"{at}.track_clear_max_s: at least track_clear_s ({pre.track_clear_s}), found "
                         f"{pre.track_clear_max_s}")
    return pre
