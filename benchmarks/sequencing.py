"""CPU per simulated cycle of the sequencing property test's harness, against stepping every tick.

    python -m benchmarks.sequencing [--examples 20] [--hours 1]

The same scenarios as `tests/firmware_sim/test_sequencing_properties.py` (random valid plans, traffic, stuck and
failed detectors; drawn with a fixed seed), each run free and coordinated through the checker twice: jumping over
quiet ticks (what the property test does) and stepping every tick (the baseline, the same run by the equivalence
test). Both runs alternate per scenario so a shift in the machine's load hits both. Prints CPU milliseconds per
cycle of each and their ratio; the last line is `RESULT sequencing ...`.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings

from tests.firmware_sim.sequencing_harness import simulate
from tests.firmware_sim.test_sequencing_properties import scenarios


def draw(examples: int) -> list[dict[str, Any]]:
    drawn: list[dict[str, Any]] = []

    @settings(max_examples=examples, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(s=scenarios())
    def collect(s: dict[str, Any]) -> None:
        drawn.append(s)

    collect()
    return drawn[:examples]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--hours", type=float, default=1.0)
    args = parser.parse_args()
    seconds = round(args.hours * 3600)
    cpu = {True: 0.0, False: 0.0}
    cycles = {True: 0, False: 0}
    for s in draw(args.examples):
        for coord in (None, min(s["plan"].patterns)):
            for quiet_skip in (True, False):
                began = time.process_time()
                checker = simulate(s["plan"], coord, s["traffic"], seconds, s["seed"], s["faults"],
                                   start=s["start"], quiet_skip=quiet_skip)
                cpu[quiet_skip] += time.process_time() - began
                cycles[quiet_skip] += checker.cycles
    fast, every = (cpu[k] / max(1, cycles[k]) * 1000 for k in (True, False))
    print(f"{cycles[True]} cycles in {2 * args.examples} runs of {args.hours} h")
    print(f"jumping quiet ticks: {fast:.3f} ms CPU per cycle ({cpu[True]:.1f} s)")
    print(f"every tick:          {every:.3f} ms CPU per cycle ({cpu[False]:.1f} s)")
    print(f"RESULT sequencing ms_per_cycle={fast:.3f} every_tick_ms_per_cycle={every:.3f} ratio={every / fast:.2f}")


if __name__ == "__main__":
    main()
