"""The fit driver: NUTS on the calibration model, one compiled chain program reused by every fit.

The model (`carbon_mc.calibration.model`) only describes the densities; this module compiles a
chain of NumPyro's NUTS kernel (warm-up adaptation included) once per set of runs, priors and
settings, runs the chains of one or several fits (leave-one-out refits too) on it, and hands the
samples to `carbon_mc.calibration.inference_data`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro.distributions.transforms import biject_to
from numpyro.infer.hmc import hmc
from numpyro.infer.util import get_potential_fn

from ..errors import CarbonMCError, close_matches, shown
from ..priors import PriorTable, load_priors
from ..sampling.args import check_priors, check_real, check_seed, check_whole
from ..scenarios.training import Scenario
from .design import build_design, check_runs, measured_runs
from .inference_data import build_inference_data
from .model import calibration_model

__all__ = ["DEFAULTS", "Calibrator", "fit_calibration", "fit_many"]


class SamplerDefaults(TypedDict):
    """The type of `DEFAULTS`."""

    num_chains: int
    num_warmup: int
    num_samples: int
    seed: int
    target_accept_prob: float


class SamplerSettings(TypedDict):
    """The type of `Calibrator.settings`: the sampler settings, stored with every fit."""

    num_chains: int
    num_warmup: int
    num_samples: int
    target_accept_prob: float
    max_tree_depth: int


# target_accept_prob 0.98: on the bundled 35 runs (4 chains x 1,000) NUTS diverged 4, 6 and 10 times
# in 4,000 transitions at 0.9 (seeds 0, 1, 2), 8, 4 and 2 times at 0.95, 1, 0 and 0 times at 0.98,
# mostly where OLMo 1B's low implied MFU meets wide MFU class spreads. The cost, on a 2-core CPU:
# `carbon-mc calibrate` 16 s -> 41 s, `carbon-mc validate` 2 min 48 s -> 6 min 23 s.
DEFAULTS: SamplerDefaults = {"num_chains": 4, "num_warmup": 500, "num_samples": 1000, "seed": 0, "target_accept_prob": 0.98}
_PROGRAMS: dict = {}  # compiled chain programs, shared by Calibrators of the same runs, priors and settings


class Calibrator:
    """NUTS on the calibration model of a set of measured runs.

    One compiled program runs one chain, warm-up adaptation included; every chain of every fit
    (leave-one-out refits too) reuses it, so a Calibrator compiles once.

    >>> cal = Calibrator(measured_runs())
    >>> idata = cal.fit(seed=0)                                       # all runs
    >>> full, loo = cal.fit_many([(), ["GPT-3 175B"]], seed=0)       # and GPT-3 held out

    Raises (on construction):
      CarbonMCError: a setting below 1, no measured run (with the default runs), or a run the model
        cannot take (see `carbon_mc.calibration.build_design`).
    """

    def __init__(
        self,
        runs: Sequence[Scenario] | None = None,
        *,
        priors: PriorTable | None = None,
        num_chains: int = DEFAULTS["num_chains"],
        num_warmup: int = DEFAULTS["num_warmup"],
        num_samples: int = DEFAULTS["num_samples"],
        target_accept_prob: float = DEFAULTS["target_accept_prob"],
        max_tree_depth: int = 8,
    ):
        check_runs(runs), check_priors(priors)
        for name, value in (("num_chains", num_chains), ("num_warmup", num_warmup), ("num_samples", num_samples),
                            ("max_tree_depth", max_tree_depth)):
            check_whole(value, name)
        check_real(target_accept_prob, "target_accept_prob", above=0.0, high=1.0)
        if min(num_chains, num_warmup, num_samples) < 1:
            raise CarbonMCError("num_chains, num_warmup and num_samples must be >= 1")
        self.table = priors or load_priors()
        self.runs = tuple(runs) if runs is not None else tuple(measured_runs(priors=self.table))
        self.design = build_design(self.runs, self.table)
        self.settings: SamplerSettings = {"num_chains": num_chains, "num_warmup": num_warmup, "num_samples": num_samples,
                                          "target_accept_prob": target_accept_prob, "max_tree_depth": max_tree_depth}
        self.model = calibration_model(self.design, self.table)
        self._compiled: dict = {}

    def observed_mask(self, held_out: Iterable[str] = ()) -> np.ndarray:
        """(R,) True for the runs whose figure the fit uses.

        Raises:
          CarbonMCError: a held-out name is not a measured run, or every run is held out.
        """
        held_out = list(held_out)
        unknown = [n for n in held_out if n not in self.design.names]
        if unknown:
            raise CarbonMCError(f"no measured run named {unknown[0]!r}; {close_matches(unknown[0], self.design.names)}")
        observed = np.array([n not in held_out for n in self.design.names])
        if not observed.any():
            raise CarbonMCError("every measured run is held out: nothing to calibrate on")
        return observed

    def _cache_key(self) -> str:
        """What the compiled programs depend on: the runs, the priors and the sampler settings."""
        runs = [(s.name, s.file, s.sha256 or repr(s)) for s in self.runs]
        settings = {k: v for k, v in self.settings.items() if k != "num_chains"}  # the program runs one chain
        return json.dumps([runs, self.table.files, settings], sort_keys=True, default=str)

    def _programs(self) -> dict:
        if not self._compiled and self._cache_key() in _PROGRAMS:
            self._compiled = _PROGRAMS[self._cache_key()]
        if not self._compiled:
            self._compiled = self._compile()
            if len(_PROGRAMS) >= 4:
                _PROGRAMS.clear()
            _PROGRAMS[self._cache_key()] = self._compiled
        return self._compiled

    def _compile(self) -> dict:
        """The jitted chain program (warm-up and sampling of one chain), the constraining map and the site shapes."""
        # numpyro.infer.util.initialize_model would run the model eagerly, op by op (hundreds of
        # small compilations); the sites' shapes come from an abstract trace instead.
        potential_fn_gen, postprocess_fn_gen = get_potential_fn(self.model, {}, dynamic_args=True, replay_model=True)
        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="NUTS")
        num_warmup, num_samples = self.settings["num_warmup"], self.settings["num_samples"]

        def chain(rng_key, z_init, observed):
            _init_key, run_key = jax.random.split(rng_key)
            state = init_kernel(z_init, num_warmup, target_accept_prob=self.settings["target_accept_prob"],
                                max_tree_depth=self.settings["max_tree_depth"], model_args=(observed,), rng_key=run_key)

            def step(state, _):
                state = sample_kernel(state, model_args=(observed,))
                return state, (state.z, state.diverging, state.num_steps)

            _, (z, diverging, num_steps) = jax.lax.scan(step, state, None, length=num_warmup + num_samples)
            z = jax.tree.map(lambda v: v[num_warmup:], z)
            return z, diverging[num_warmup:], num_steps[num_warmup:]

        return {
            "chain": jax.jit(chain),
            "constrain": jax.jit(lambda z, observed: jax.vmap(postprocess_fn_gen(observed))(z)),
            "sites": self._site_shapes(),
        }

    def _initial_params(self, rng_key, num: int):
        """Starting points, one per chain: uniform in (-1, 1) on the unconstrained scale (numpyro's init_to_uniform)."""
        sites = self._programs()["sites"]
        keys = jax.random.split(rng_key, len(sites))
        return {name: jax.random.uniform(k, (num, *shape), minval=-1.0, maxval=1.0) for k, (name, shape) in zip(keys, sites.items())}

    def _site_shapes(self) -> dict[str, tuple]:
        """{latent sample site: shape on the unconstrained scale}, from an abstract trace of the model."""
        found = {}

        def trace(observed):
            tr = numpyro.handlers.trace(numpyro.handlers.seed(self.model, 0)).get_trace(observed)
            for name, site in tr.items():
                if site["type"] == "sample" and not site["is_observed"]:
                    shape = jnp.shape(site["value"])
                    found[name] = tuple(biject_to(site["fn"].support).inverse_shape(shape))
            return jnp.zeros(())

        jax.make_jaxpr(trace)(jnp.ones(self.design.num_runs, bool))
        return dict(sorted(found.items()))

    def _run_chains(self, masks: list[np.ndarray], seed: int, num_chains: int) -> dict:
        """{(fit, chain): (constrained samples, diverging, num_steps)} for every chain of every fit."""
        programs = self._programs()
        init_key, run_key = jax.random.split(jax.random.key(seed))
        z0 = self._initial_params(init_key, num_chains)

        def run_chain(job):
            f, c = job
            key = jax.random.split(jax.random.fold_in(run_key, f), num_chains)[c]
            observed = jnp.asarray(masks[f])
            z, diverging, num_steps = programs["chain"](key, {k: v[c] for k, v in z0.items()}, observed)
            constrained = programs["constrain"](z, observed)
            return {k: np.asarray(v) for k, v in constrained.items()}, np.asarray(diverging), np.asarray(num_steps)

        # Chains are independent (each its own key), so they may run on several cores at once;
        # the result does not depend on which finishes first.
        jobs = [(f, c) for f in range(len(masks)) for c in range(num_chains)]
        with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), os.cpu_count() or 1))) as pool:
            return dict(zip(jobs, pool.map(run_chain, jobs)))

    def fit_many(self, held_out_sets: Sequence[Iterable[str]], *, seed: int = DEFAULTS["seed"], num_chains: int | None = None) -> list:
        """One fit per set of held-out run names (``()`` for none); InferenceData each.

        Every fit starts its chains from the same points and reuses the one compiled chain program;
        `num_chains` overrides the Calibrator's for these fits.

        Raises:
          CarbonMCError: a held-out name is not a measured run, or a set holds out every run.
        """
        masks = [self.observed_mask(h) for h in held_out_sets]
        num_chains = num_chains or self.settings["num_chains"]
        done = self._run_chains(masks, seed, num_chains)
        fits = []
        for f, observed in enumerate(masks):
            chains = [done[(f, c)] for c in range(num_chains)]
            samples = {k: np.stack([ch[0][k] for ch in chains]) for k in chains[0][0]}
            extra = {"diverging": np.stack([ch[1] for ch in chains]), "num_steps": np.stack([ch[2] for ch in chains])}
            fits.append(build_inference_data(self.design, self.table, self.settings, samples, extra, observed, seed))
        return fits

    def fit(self, *, seed: int = DEFAULTS["seed"], held_out: Iterable[str] = (), num_chains: int | None = None):
        """Sample the posterior given every run but `held_out` (names); returns InferenceData.

        Raises:
          CarbonMCError: a held-out name is not a measured run, or every run is held out.
        """
        return self.fit_many([tuple(held_out)], seed=seed, num_chains=num_chains)[0]


def check_settings(settings: dict) -> dict:
    """Only the sampler settings `Calibrator` takes."""
    unknown = sorted(set(settings) - set(SamplerSettings.__annotations__))
    if unknown:
        raise CarbonMCError(f"unknown setting(s) {', '.join(map(shown, unknown))}; {close_matches(unknown[0], SamplerSettings.__annotations__)}")
    return settings


def fit_calibration(runs: Sequence[Scenario] | None = None, *, seed: int = DEFAULTS["seed"], priors: PriorTable | None = None, **settings):
    """Calibrate on measured runs (default: the bundled ones) with NUTS; returns InferenceData.

    `settings`: num_chains, num_warmup, num_samples, target_accept_prob, max_tree_depth (see `Calibrator`).

    Raises:
      CarbonMCError: as `Calibrator`.
    """
    check_settings(settings), check_seed(seed)
    return Calibrator(runs, priors=priors, **settings).fit(seed=seed)


def fit_many(held_out_sets: Sequence[Iterable[str]], runs: Sequence[Scenario] | None = None, *, seed: int = DEFAULTS["seed"],
             priors: PriorTable | None = None, **settings) -> list:
    """One fit per set of held-out run names, all on one compiled program (see `Calibrator.fit_many`).

    Raises:
      CarbonMCError: as `Calibrator` and `Calibrator.fit_many`.
    """
    check_settings(settings), check_seed(seed)
    return Calibrator(runs, priors=priors, **settings).fit_many(held_out_sets, seed=seed)
