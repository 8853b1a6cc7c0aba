"""How many examples the plan property tests draw: the defaults fit CI, SIGNALIGHT_PLAN_PROPERTY_SCALE multiplies
them for a deeper run (e.g. 20 before a release)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def examples(default: int) -> settings:
    """Hypothesis settings drawing `default` × SIGNALIGHT_PLAN_PROPERTY_SCALE examples, no deadline."""
    scale = float(os.environ.get("SIGNALIGHT_PLAN_PROPERTY_SCALE", "1"))
    return settings(max_examples=max(1, round(default * scale)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
