"""Failure classes and what the store says is left to do (attempts, retries, give-ups)."""

from __future__ import annotations

from harness.errors import TransportError, failure_class
from harness.farm.session import attempt_key, item_states
from harness.plan import build_plan
from harness.spec import RetryPolicy
from harness.store import Store


def test_failure_classes():
    assert failure_class(None, "ok") is None
    assert failure_class("TransportError", "failed") == "transport"
    assert failure_class("DeadlineExceeded", "failed") == "transport"
    assert failure_class(None, "inconclusive") == "inconclusive"
    for cls in ("ModelLoadError", "CompileError", "ParseError", "UserError", "BenchmarkFailed", "DelegateError"):
        assert failure_class(cls, "failed") == "invalid"


def test_retries_are_decided_by_type_not_by_name():
    class LinkReset(TransportError):  # a new kind of transport failure is retried like its parent
        pass

    assert failure_class(LinkReset, "failed") == "transport"
    assert failure_class("LinkReset", "failed") == "transport"  # as a landed run records it
    assert failure_class(ValueError, "failed") == "invalid"


def _land(store, item, attempt, status, error_class=None):
    key = attempt_key(item, attempt)
    store.land_run("c", key, {"run": {"run_id": f"c/{key}", "status": status, "error_class": error_class,
                                      "plan_key": item.key, "attempt": attempt}})


def test_item_states_from_the_store(tmp_path):
    store = Store(tmp_path)
    a, b, c, d, e = build_plan(["dev"], "m", ["fp32", "fp16", "dynamic", "int8"], [1, 2], 1,
                               profile=False)[:5]
    policy = RetryPolicy(max_attempts=3)
    _land(store, a, 1, "failed", "TransportError")
    _land(store, a, 2, "ok")                           # retried, then landed
    _land(store, b, 1, "failed", "ModelLoadError")      # invalid: finished, not retried
    _land(store, c, 1, "failed", "TransportError")      # one transport failure: to retry
    for n in (1, 2, 3):
        _land(store, d, n, "failed", "DeadlineExceeded")  # attempts used up
    states = item_states(store, "c", [a, b, c, d, e], policy.max_attempts)
    assert (states[a.key].done, states[a.key].ok, states[a.key].attempts) == (True, True, 2)
    assert states[b.key].done and not states[b.key].ok
    assert not states[c.key].done and states[c.key].attempts == 1
    assert states[d.key].done and states[d.key].attempts == 3
    assert not states[e.key].done and states[e.key].attempts == 0
    assert attempt_key(a, 1) == a.key and attempt_key(a, 2) == f"{a.key}~2"


def test_auto_cooldown_waits_for_the_idle_temperature_and_is_bounded():
    from harness.farm.session import cool_down as _cool_down
    from harness.spec import Control

    temps = iter([45.0, 43.0, 40.5, 40.0])
    events = []
    control = Control(cooldown_auto=True, auto_tolerance_c=1.0, auto_poll_s=0.01, auto_max_s=5)
    item = build_plan(["dev"], "m", ["fp32"], [1], 1, profile=False)[0]
    waited = _cool_down(None, control, 39.0, item, events.append, lambda link: {"max_temp_c": next(temps)})
    assert len(events) == 3 and "45.0 °C" in events[0].message and waited < 1
    hot = Control(cooldown_auto=True, auto_tolerance_c=1.0, auto_poll_s=0.01, auto_max_s=0.05)
    assert 0.05 <= _cool_down(None, hot, 20.0, item, events.append, lambda link: {"max_temp_c": 90.0}) < 1
    # no temperature on the device: nothing to wait for
    assert _cool_down(None, control, 39.0, item, events.append, lambda link: {"max_temp_c": None}) < 0.1
    assert 0.2 <= _cool_down(None, Control(cooldown_s=0.2), None, item, events.append, lambda link: {}) < 1
