"""What a reconcile pass counts as a push nobody told us about (domain/reconcile.py), and when a late webhook is one
the reconcile built already."""

from __future__ import annotations

from gitconnect.domain.reconcile import Missed, ReconcileState, SeenRef, missed_refs, recovered_already

MAIN, V1 = "refs/heads/main", "refs/tags/v1"


def test_the_first_pass_is_the_baseline_except_for_what_deliveries_named() -> None:
    listed = {MAIN: "b", V1: "t"}
    assert missed_refs(listed, None, {}) == []
    # A delivery named main at `a`, and main is at `b` now: that move had no webhook
    assert missed_refs(listed, None, {MAIN: SeenRef("a", 10.0)}) == [Missed(MAIN, "a", "b")]


def test_a_ref_delivered_or_listed_at_its_head_did_not_move_unseen() -> None:
    state = ReconcileState(100.0, {MAIN: "a", V1: "t"})
    assert missed_refs({MAIN: "a", V1: "t"}, state, {}) == []
    assert missed_refs({MAIN: "b"}, state, {MAIN: SeenRef("b", 150.0)}) == []  # the webhook came


def test_before_is_the_newer_record_and_a_new_ref_has_none() -> None:
    state = ReconcileState(100.0, {MAIN: "a"})
    assert missed_refs({MAIN: "c"}, state, {MAIN: SeenRef("b", 150.0)}) == [Missed(MAIN, "b", "c")]  # delivery newer
    assert missed_refs({MAIN: "c"}, state, {MAIN: SeenRef("z", 50.0)}) == [Missed(MAIN, "a", "c")]  # listing newer
    assert missed_refs({V1: "t"}, state, {}) == [Missed(V1, None, "t")]


def test_a_late_webhook_is_recovered_already_unless_a_delivery_came_after_the_pass() -> None:
    state = ReconcileState(100.0, {MAIN: "b"}, recovered={MAIN: "b"})
    assert recovered_already(state, MAIN, "b", None)
    assert recovered_already(state, MAIN, "b", SeenRef("a", 50.0))
    assert not recovered_already(state, MAIN, "b", SeenRef("c", 150.0))  # moved on and back: a new push
    assert not recovered_already(state, MAIN, "c", None)
    assert not recovered_already(None, MAIN, "b", None)
