"""Turn pydantic's errors on a plan into `schema` issues: what is wrong, in Vietnamese and English alike.

pydantic names an error with an internal code (`greater_than_equal`, `too_short`, `literal_error`, ...) and an
English sentence about Python types ("a valid dictionary or instance of Week"). Neither belongs in front of an
engineer, so every kind a plan can meet gets its own sentence in both languages, with the same facts (the
bound, the allowed values, the length found), and `required`/`found` say it in JSON terms. A kind not listed
here still gets a sentence in both languages, never a code.
"""

from __future__ import annotations

import json
import math
from typing import Any

from pydantic import JsonValue
from pydantic_core import ErrorDetails

# JSON type a pydantic type error asks for, and its Vietnamese name.
_TYPES = {
    "float_type": "number", "int_type": "integer", "string_type": "string", "bool_type": "boolean",
    "list_type": "array", "dict_type": "object", "model_type": "object", "model_attributes_type": "object",
    "date_type": "string",
}  # fmt: skip
_VI_TYPES = {
    "number": "số", "integer": "số nguyên", "string": "chuỗi", "boolean": "giá trị logic", "array": "mảng",
    "object": "đối tượng", "null": "null",
}  # fmt: skip
_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
_BOUND_KINDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
# Errors the plan model raises itself (PydanticCustomError types): (required, en, vi).
CUSTOM = {
    "null_field": ("absent or a number", "leave an optional field out instead of writing null",
                   "trường tùy chọn phải bỏ hẳn, không ghi null"),
    "ped_fields": ("walk_s, ped_clear_s and crosswalk_m: all three or none",
                   "walk_s, ped_clear_s and crosswalk_m go together: give all three or none",
                   "walk_s, ped_clear_s và crosswalk_m đi cùng nhau: có cả ba hoặc không có trường nào"),
    "date_text": ("a string YYYY-MM-DD", "a date must be a string YYYY-MM-DD",
                  "ngày phải là chuỗi dạng YYYY-MM-DD"),
}  # fmt: skip


def json_type(value: Any) -> str:
    """The JSON type name of a parsed JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object"


def json_found(value: Any) -> JsonValue:
    """The input as a JSON value: scalars as they are (non-finite numbers spelled out, JSON has none), an array
    or object by its type name (the whole thing would drown the message)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return json_type(value)


def _shown(raw: Any, found: JsonValue) -> str:
    """The input as an engineer would write it in the plan: JSON text; "" for an array or object."""
    if isinstance(raw, float) and not math.isfinite(raw):
        return str(found)
    if found is not None and json_type(raw) in ("array", "object"):
        return ""
    return json.dumps(found, ensure_ascii=False)


def describe(err: ErrorDetails, where: str) -> tuple[JsonValue, JsonValue, str, str]:
    """(required, found, en, vi) of one pydantic error at `where` (a path, or "plan")."""
    kind, ctx, raw = err["type"], err.get("ctx") or {}, err.get("input")
    found = json_found(raw)
    shown = _shown(raw, found)
    if kind == "missing":
        return "present", None, f"{where}: required field is missing", f"{where}: thiếu trường bắt buộc"
    if kind == "extra_forbidden":
        return ("absent", found, f"{where}: unknown field, not in the plan format (check the spelling)",
                f"{where}: trường không có trong định dạng kế hoạch (kiểm tra chính tả)")
    if kind in CUSTOM:
        required, en, vi = CUSTOM[kind]
        return required, found, f"{where}: {en}", f"{where}: {vi}"
    if kind in _BOUND_KINDS:
        bound = next(f"{_BOUNDS[k]} {v:g}" for k, v in ctx.items() if k in _BOUNDS)
        return bound, found, f"{where}: {shown} must be {bound}", f"{where}: {shown} phải {bound}"
    if kind == "finite_number":
        return ("a finite number", found, f"{where}: {shown} is not a finite number",
                f"{where}: {shown} không phải số hữu hạn")
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        return (f"one of {expected}", found, f"{where}: {shown} is not allowed, use one of {expected}",
                f"{where}: {shown} không được phép, dùng một trong {expected.replace(' or ', ' hoặc ')}")
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        return (f"matches {pattern}", found, f"{where}: {shown} does not match the pattern {pattern}",
                f"{where}: {shown} không khớp mẫu {pattern}")
    if kind in ("string_too_short", "string_too_long"):
        short = kind == "string_too_short"
        limit = ctx.get("min_length" if short else "max_length")
        length = len(raw) if isinstance(raw, str) else 0
        en_word, vi_word = ("at least", "ít nhất") if short else ("at most", "nhiều nhất")
        return (f"{'≥' if short else '≤'} {limit} characters", found,
                f"{where}: {length} characters, must have {en_word} {limit}",
                f"{where}: {length} ký tự, phải có {vi_word} {limit}")
    if kind in ("too_short", "too_long"):
        short = kind == "too_short"
        limit = ctx.get("min_length" if short else "max_length")
        length = ctx.get("actual_length", len(raw) if isinstance(raw, list | dict) else 0)
        en_word, vi_word = ("at least", "ít nhất") if short else ("at most", "nhiều nhất")
        return (f"{'≥' if short else '≤'} {limit} items", length,
                f"{where}: {length} items, must have {en_word} {limit}",
                f"{where}: {length} phần tử, phải có {vi_word} {limit}")
    if kind in ("date_parsing", "date_from_datetime_parsing", "date_from_datetime_inexact"):
        return ("a calendar date YYYY-MM-DD", found, f"{where}: {shown} is not a calendar date YYYY-MM-DD",
                f"{where}: {shown} không phải ngày hợp lệ dạng YYYY-MM-DD")
    if kind in _TYPES or kind.endswith("_type"):
        wanted = _TYPES.get(kind, "a value of another type")
        got = json_type(raw)
        value = f" {shown}" if shown else ""
        return (wanted, found, f"{where}: must be {_article(wanted)}, found {_article(got)}{value}",
                f"{where}: phải là {_VI_TYPES.get(wanted, wanted)}, nhận {_VI_TYPES.get(got, got)}{value}")
    # A kind no plan has produced so far: pydantic's sentence, and a Vietnamese one carrying it, never the code.
    message = str(err.get("msg", "invalid value"))
    return ("a valid value", found, f"{where}: {message}", f"{where}: giá trị không hợp lệ ({message})")


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"
