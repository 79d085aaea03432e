"""What ``carbon-mc validate`` reports: leave-one-out, forward in time, and the published estimates."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ..priors import PriorTable, load_priors
from .fit import DEFAULTS, Calibrator
from .forward import forward_in_time, split_by_year
from .loo import claims, leave_one_out

__all__ = ["validation_report"]


def validation_report(
    *,
    hold_out: Iterable[str] | None = None,
    seed: int = DEFAULTS["seed"],
    num_draws: int = 20_000,
    num_chains: int = 2,
    num_warmup: int = DEFAULTS["num_warmup"],
    num_samples: int = DEFAULTS["num_samples"],
    with_claims: bool = True,
    cutoffs: Sequence[int] = (),
    priors: PriorTable | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """What ``carbon-mc validate`` reports: `leave_one_out` over the bundled measured runs, with
    `cutoffs` the forward-in-time validation at those years (`carbon_mc.calibration.forward_in_time`),
    and with `with_claims` the published estimates (`claims`) under a calibration fitted on every measured run.

    Every refit and the full fit share one `Calibrator` (one compiled program). `progress(message)`
    is called after each held-out run and before the full fit.

    Returns:
      `leave_one_out`'s dict, plus ``forward_in_time`` with `cutoffs` and ``claims`` (a list, see
      `claims`) with `with_claims`.

    Raises:
      CarbonMCError: a name in `hold_out` is not a measured run (before any fitting), or as `Calibrator`.
    """
    table = priors or load_priors()
    cal = Calibrator(priors=table, num_chains=num_chains, num_warmup=num_warmup, num_samples=num_samples)

    def held_out(done, total, name):
        if progress is not None:
            progress(f"[{done}/{total}] held out: {name}")

    for year in cutoffs:  # a bad cut-off fails before any fitting
        split_by_year(cal.runs, int(year))
    result = leave_one_out(calibrator=cal, hold_out=hold_out, seed=seed, num_draws=num_draws, num_chains=num_chains,
                           priors=table, progress=held_out)
    if cutoffs:
        result["forward_in_time"] = forward_in_time(cutoffs, calibrator=cal, seed=seed, num_draws=num_draws,
                                                    num_chains=num_chains, priors=table, progress=progress)
    if with_claims:
        if progress is not None:
            progress("fitting on every measured run for the published estimates")
        full = cal.fit(seed=seed)
        result["claims"] = claims(full, seed=seed, num_draws=num_draws, priors=table, source="calibration on every measured run")
    return result
