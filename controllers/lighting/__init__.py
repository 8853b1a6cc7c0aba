"""Street lighting, format v1: control programs, calendars, circuit assignment, sun times, evaluation,
validation, diff and transfer encoding.

Pure domain code: no I/O, no clock (every time is an argument). See `contracts/lighting/README.md` for the format
a cabinet vendor implements.
"""

from controllers.lighting.calendar import matches, matching_rules, rule_for
from controllers.lighting.diff import diff_lighting
from controllers.lighting.encoding import (
    EncodedLighting,
    LightingEncodingError,
    canonical_bytes,
    decode_lighting,
    decode_registers,
    encode_lighting,
)
from controllers.lighting.evaluate import (
    Night,
    Switch,
    circuit_night,
    level_at,
    night_bounds,
    night_of,
    switching_times,
    trigger_time,
)
from controllers.lighting.model import (
    FORMAT_V1,
    BurnWindow,
    Calendar,
    CircuitAssignment,
    LightingV1,
    Photocell,
    Program,
    Rule,
    Site,
    Step,
    Trigger,
)
from controllers.lighting.photocell import PhotocellState, photocell_update
from controllers.lighting.report import ERROR_RULES, WARNING_RULES
from controllers.lighting.sun import AstralSun, SunDay, SunTable
from controllers.lighting.validator import validate_lighting

__all__ = [
    "ERROR_RULES",
    "FORMAT_V1",
    "WARNING_RULES",
    "AstralSun",
    "BurnWindow",
    "Calendar",
    "CircuitAssignment",
    "EncodedLighting",
    "LightingEncodingError",
    "LightingV1",
    "Night",
    "Photocell",
    "PhotocellState",
    "Program",
    "Rule",
    "Site",
    "Step",
    "SunDay",
    "SunTable",
    "Switch",
    "Trigger",
    "canonical_bytes",
    "circuit_night",
    "decode_lighting",
    "decode_registers",
    "diff_lighting",
    "encode_lighting",
    "level_at",
    "matches",
    "matching_rules",
    "night_bounds",
    "night_of",
    "photocell_update",
    "rule_for",
    "switching_times",
    "trigger_time",
    "validate_lighting",
]
