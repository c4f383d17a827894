"""Properties of every learning-rate schedule (hypothesis): a multiplier in (0, 1] during the run, rising over the
warm-up to 1, never rising after it, and down to 0 at the end for the schedules that decay to zero."""

from hypothesis import given, settings
from hypothesis import strategies as st

from landmarks.engine.schedules import SCHEDULES, lr_factor

RUNS = st.integers(2, 400).flatmap(lambda total: st.tuples(st.just(total), st.integers(0, total - 1)))


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(RUNS, st.sampled_from(SCHEDULES.names()))
def test_every_schedule_warms_up_to_its_peak_then_never_rises(run, schedule):
    total, warmup = run
    factors = [lr_factor(step, total_steps=total, warmup_steps=warmup, schedule=schedule) for step in range(total)]
    assert all(0 < factor <= 1 for factor in factors)
    peak = max(warmup - 1, 0)  # the warm-up's last step (Vaswani et al. 2017, Eq. 3: both terms meet there)
    assert factors[peak] == 1 and all(a < b for a, b in zip(factors[:peak], factors[1 : peak + 1]))
    assert all(later <= earlier for earlier, later in zip(factors[peak:], factors[peak + 1 :]))
    end = lr_factor(total, total_steps=total, warmup_steps=warmup, schedule=schedule)
    assert end == 0 if schedule in ("cosine", "onecycle") else end > 0
