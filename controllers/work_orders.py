"""Work orders of the lighting crews: states, the actions that move between them, and who may take each.

Pure: no I/O, no clock. The API stores orders and their history; this module is the one judge of which transition
is legal. An order comes from an alarm, from a dispatcher, or from a citizen's report (then it starts in `review`,
so nobody is sent out on an unchecked report).

    review ──approve──> open ──assign──> assigned ──accept──> accepted ──travel──> traveling ──arrive──> on_site
       │                  ▲                 │  ▲                  │                   │                    │
       └──assign──────────┼─────────────────┘  └──assign (reassign, not once accepted by the crew)          │
                          └──reopen── resolved / cannot_fix <──resolve / cannot_fix─────────────────────────┘
    cancel (with a reason) from review, open, assigned.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OrderState(StrEnum):
    REVIEW = "review"
    OPEN = "open"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    TRAVELING = "traveling"
    ON_SITE = "on_site"
    RESOLVED = "resolved"
    CANNOT_FIX = "cannot_fix"
    CANCELLED = "cancelled"


class OrderAction(StrEnum):
    APPROVE = "approve"
    ASSIGN = "assign"
    ACCEPT = "accept"
    TRAVEL = "travel"
    ARRIVE = "arrive"
    RESOLVE = "resolve"
    CANNOT_FIX = "cannot_fix"
    REOPEN = "reopen"
    CANCEL = "cancel"


class Actor(StrEnum):
    """Who takes an action: the crew working the order, or a dispatcher (operator, engineer, admin)."""

    CREW = "crew"
    DISPATCHER = "dispatcher"


@dataclass(frozen=True, slots=True)
class Transition:
    sources: frozenset[OrderState]
    target: OrderState
    actors: frozenset[Actor]
    #: what the action must carry: "note" (resolve), "reason" (cannot fix, cancel), "assignee" (assign)
    needs: str | None = None


_S = OrderState
_CREW = frozenset({Actor.CREW, Actor.DISPATCHER})
_DISPATCH = frozenset({Actor.DISPATCHER})
_WORKING = frozenset({_S.ACCEPTED, _S.TRAVELING, _S.ON_SITE})

TRANSITIONS: dict[OrderAction, Transition] = {
    OrderAction.APPROVE: Transition(frozenset({_S.REVIEW}), _S.OPEN, _DISPATCH),
    OrderAction.ASSIGN: Transition(frozenset({_S.REVIEW, _S.OPEN, _S.ASSIGNED}), _S.ASSIGNED, _DISPATCH, "assignee"),
    OrderAction.ACCEPT: Transition(frozenset({_S.ASSIGNED}), _S.ACCEPTED, _CREW),
    OrderAction.TRAVEL: Transition(frozenset({_S.ACCEPTED}), _S.TRAVELING, _CREW),
    OrderAction.ARRIVE: Transition(frozenset({_S.ACCEPTED, _S.TRAVELING}), _S.ON_SITE, _CREW),
    OrderAction.RESOLVE: Transition(frozenset({_S.ON_SITE}), _S.RESOLVED, _CREW, "note"),
    OrderAction.CANNOT_FIX: Transition(_WORKING, _S.CANNOT_FIX, _CREW, "reason"),
    OrderAction.REOPEN: Transition(frozenset({_S.RESOLVED, _S.CANNOT_FIX}), _S.OPEN, _DISPATCH, "reason"),
    OrderAction.CANCEL: Transition(frozenset({_S.REVIEW, _S.OPEN, _S.ASSIGNED}), _S.CANCELLED, _DISPATCH, "reason"),
}

#: States in which nobody works the order any more (until a dispatcher reopens it).
CLOSED = frozenset({_S.RESOLVED, _S.CANNOT_FIX, _S.CANCELLED})

#: What a citizen's lookup shows: a coarse status, never who works it or what was written.
PUBLIC_STATUS: dict[OrderState, str] = {
    _S.REVIEW: "received", _S.OPEN: "accepted", _S.ASSIGNED: "accepted", _S.ACCEPTED: "in_progress",
    _S.TRAVELING: "in_progress", _S.ON_SITE: "in_progress", _S.RESOLVED: "resolved", _S.CANNOT_FIX: "closed",
    _S.CANCELLED: "closed",
}

STATE_LABELS: dict[OrderState, tuple[str, str]] = {
    _S.REVIEW: ("Chờ duyệt", "In review"), _S.OPEN: ("Mới", "Open"), _S.ASSIGNED: ("Đã giao", "Assigned"),
    _S.ACCEPTED: ("Đã nhận", "Accepted"), _S.TRAVELING: ("Đang đến", "Travelling"),
    _S.ON_SITE: ("Tại hiện trường", "On site"), _S.RESOLVED: ("Đã xử lý", "Resolved"),
    _S.CANNOT_FIX: ("Không xử lý được", "Cannot fix"), _S.CANCELLED: ("Đã huỷ", "Cancelled"),
}


ACTION_LABELS: dict[OrderAction, tuple[str, str]] = {
    OrderAction.APPROVE: ("Duyệt", "Approve"), OrderAction.ASSIGN: ("Giao việc", "Assign"),
    OrderAction.ACCEPT: ("Nhận việc", "Accept"), OrderAction.TRAVEL: ("Đang đến", "Travel"),
    OrderAction.ARRIVE: ("Đã đến nơi", "Arrive"), OrderAction.RESOLVE: ("Đã xử lý", "Resolve"),
    OrderAction.CANNOT_FIX: ("Không xử lý được", "Cannot fix"), OrderAction.REOPEN: ("Mở lại", "Reopen"),
    OrderAction.CANCEL: ("Huỷ", "Cancel"),
}


class IllegalTransition(Exception):
    """The action cannot be taken from this state, or not by this actor. `message` has vi and en."""

    def __init__(self, action: OrderAction, state: OrderState, allowed: list[OrderAction], why: str) -> None:
        self.action, self.state, self.allowed, self.why = action, state, allowed, why
        vi_state, en_state = STATE_LABELS[state]
        vi_action, en_action = ACTION_LABELS[action]
        self.message = {
            "vi": f"Không thể «{vi_action}» khi lệnh công tác đang ở trạng thái «{vi_state}»",
            "en": f"Cannot “{en_action}” a work order that is “{en_state}”",
        }
        super().__init__(f"{why}: {action.value} from {state.value}")


def allowed_actions(state: OrderState, actor: Actor) -> list[OrderAction]:
    """The actions `actor` may take on an order in `state`, in table order."""
    return [a for a, t in TRANSITIONS.items() if state in t.sources and actor in t.actors]


def next_state(state: OrderState, action: OrderAction, actor: Actor) -> OrderState:
    """Where `action` takes an order in `state`. Raises IllegalTransition when the table has no such move for this
    actor (a crew approving, a resolve before arriving, anything on a closed order but reopen)."""
    transition = TRANSITIONS[action]
    if state not in transition.sources:
        raise IllegalTransition(action, state, allowed_actions(state, actor), "illegal transition")
    if actor not in transition.actors:
        raise IllegalTransition(action, state, allowed_actions(state, actor), "dispatchers only")
    return transition.target


#: What citizens report (the public page's choices), in vi and en.
REPORT_CATEGORIES: dict[str, tuple[str, str]] = {
    "dark_street": ("Đường tối", "Dark street"),
    "broken_lamp": ("Đèn hỏng", "Broken lamp"),
    "day_burning": ("Đèn sáng ban ngày", "Lamp on by day"),
    "damaged_pole": ("Cột đèn hư hỏng", "Damaged pole"),
    "other": ("Khác", "Other"),
}

PUBLIC_STATUS_LABELS: dict[str, tuple[str, str]] = {
    "received": ("Đã tiếp nhận, chờ xem xét", "Received, awaiting review"),
    "accepted": ("Đã chuyển cho đội sửa chữa", "Passed to a repair crew"),
    "in_progress": ("Đội sửa chữa đang xử lý", "A crew is working on it"),
    "resolved": ("Đã xử lý xong", "Fixed"),
    "closed": ("Đã đóng", "Closed"),
}
