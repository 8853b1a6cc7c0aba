"""Signal timing plans, format v1: models, clearance formulas, validator, diff and transfer encoding.

Pure domain code: no I/O, no clock. See `contracts/plans/README.md` for the format a device vendor implements.
"""

from controllers.plans.clearance import ite_yellow_s, kph_to_mps, ped_clearance_s, red_clearance_s
from controllers.plans.config import DEFAULT_RULES, NEMA_8_PHASE_COMPATIBLE, ValidatorConfig
from controllers.plans.cycle import cycle_position_s, cycle_zero_s, green_starts_s
from controllers.plans.diff import Change, diff_plans
from controllers.plans.encoding import (
    EncodedPlan,
    PlanEncodingError,
    canonical_bytes,
    crc32,
    crc32_from_registers,
    crc32_to_registers,
    decode_plan,
    encode_plan,
    from_registers,
    to_registers,
)
from controllers.plans.model import (
    FORMAT_V1,
    DayPlan,
    Event,
    Holiday,
    Pattern,
    Phase,
    PlanV1,
    Week,
)
from controllers.plans.report import ERROR_RULES, WARNING_RULES, Issue, Message, ValidationReport
from controllers.plans.rules_rings import Structure
from controllers.plans.validator import validate_plan

__all__ = [
    "DEFAULT_RULES",
    "ERROR_RULES",
    "FORMAT_V1",
    "NEMA_8_PHASE_COMPATIBLE",
    "WARNING_RULES",
    "Change",
    "DayPlan",
    "EncodedPlan",
    "Event",
    "Holiday",
    "Issue",
    "Message",
    "Pattern",
    "Phase",
    "PlanEncodingError",
    "PlanV1",
    "Structure",
    "ValidationReport",
    "ValidatorConfig",
    "Week",
    "canonical_bytes",
    "crc32",
    "crc32_from_registers",
    "crc32_to_registers",
    "cycle_position_s",
    "cycle_zero_s",
    "decode_plan",
    "diff_plans",
    "encode_plan",
    "from_registers",
    "green_starts_s",
    "ite_yellow_s",
    "kph_to_mps",
    "ped_clearance_s",
    "red_clearance_s",
    "to_registers",
    "validate_plan",
]
