"""The work-order state machine: every move in the table and nothing else; crews never dispatch."""

from __future__ import annotations

import itertools

import pytest

from controllers.work_orders import (
    CLOSED,
    PUBLIC_STATUS,
    STATE_LABELS,
    TRANSITIONS,
    Actor,
    IllegalTransition,
    OrderAction,
    OrderState,
    allowed_actions,
    next_state,
)

CREW_PATH = [OrderAction.ACCEPT, OrderAction.TRAVEL, OrderAction.ARRIVE, OrderAction.RESOLVE]


def test_a_crew_takes_an_assigned_order_to_resolved() -> None:
    state = OrderState.ASSIGNED
    for action in CREW_PATH:
        state = next_state(state, action, Actor.CREW)
    assert state is OrderState.RESOLVED


@pytest.mark.parametrize(("state", "action", "actor"),
                         list(itertools.product(OrderState, OrderAction, Actor)))
def test_every_pair_is_allowed_exactly_when_the_table_says(state: OrderState, action: OrderAction,
                                                           actor: Actor) -> None:
    move = TRANSITIONS[action]
    legal = state in move.sources and actor in move.actors
    assert (action in allowed_actions(state, actor)) is legal
    if legal:
        assert next_state(state, action, actor) is move.target
    else:
        with pytest.raises(IllegalTransition) as err:
            next_state(state, action, actor)
        assert err.value.message["vi"] and err.value.message["en"]
        assert action not in err.value.allowed


def test_closed_orders_only_reopen_and_crews_never_dispatch() -> None:
    for state in CLOSED:
        assert set(allowed_actions(state, Actor.DISPATCHER)) <= {OrderAction.REOPEN}
        assert allowed_actions(state, Actor.CREW) == []
    for state in OrderState:
        assert not {OrderAction.APPROVE, OrderAction.ASSIGN, OrderAction.CANCEL, OrderAction.REOPEN} & set(
            allowed_actions(state, Actor.CREW))
    assert allowed_actions(OrderState.REVIEW, Actor.CREW) == [], "nobody is sent out on an unchecked report"


def test_every_state_has_labels_and_a_public_status() -> None:
    assert set(STATE_LABELS) == set(OrderState) == set(PUBLIC_STATUS)
