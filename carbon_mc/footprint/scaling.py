"""Neural scaling: loss from parameters and tokens, compute-optimal allocation, loss to accuracy,
and the critical batch size.

Loss law (Hoffmann et al. 2022, arXiv:2203.15556, eq. 2; refit by Besiroglu et al. 2024,
arXiv:2404.10102):

    L(N, D) = E + A / N^α + B / D^β          (nats per token)

The five constants are drawn jointly (the `scaling_law_constants` prior, components
``loss_irreducible, ln_a, ln_b, alpha, beta``): their estimates are correlated almost perfectly
(corr(ln A, α) ≈ 0.999), so independent draws would give absurd losses.

Every function is pure jnp arithmetic on arrays of draws, with the constants as separate arrays so
that they broadcast against a grid of sizes; units are in the names (`_nats`, `_flop`, `_tokens`).
"""

from __future__ import annotations

import jax.numpy as jnp

COMPONENTS = ("loss_irreducible", "ln_a", "ln_b", "alpha", "beta")
FLOP_PER_PARAMETER_TOKEN = 6.0  # Kaplan et al. 2020, arXiv:2001.08361, §2.1: C ≈ 6·N·D


def split_constants(values, components=COMPONENTS) -> dict:
    """A joint draw of shape (..., k) as ``{component: array (...)}``, by component name."""
    return {name: values[..., i] for i, name in enumerate(components)}


def reducible_loss_nats(parameters, tokens, ln_a, ln_b, alpha, beta):
    """A/N^α + B/D^β: the part of the loss that more parameters or data remove.

    Computed in logs (A = e^ln_a), which keeps float32 finite at N, D ~ 1e13. Reference: Hoffmann
    et al. 2022, arXiv:2203.15556, eq. 2.
    """
    return jnp.exp(ln_a - alpha * jnp.log(parameters)) + jnp.exp(ln_b - beta * jnp.log(tokens))


def loss_nats(parameters, tokens, loss_irreducible, ln_a, ln_b, alpha, beta):
    """Pre-training cross-entropy L(N, D) = E + A/N^α + B/D^β, nats per token.

    Reference: Hoffmann et al. 2022, arXiv:2203.15556, eq. 2; constants from Besiroglu et al. 2024,
    arXiv:2404.10102, Table 1.
    """
    return loss_irreducible + reducible_loss_nats(parameters, tokens, ln_a, ln_b, alpha, beta)


def _ln_g(ln_a, ln_b, alpha, beta):
    """ln G with G = (αA / (βB))^{1/(α+β)} (Hoffmann et al. 2022, eq. 4)."""
    return (jnp.log(alpha) + ln_a - jnp.log(beta) - ln_b) / (alpha + beta)


def compute_optimal_parameters(compute_flop, ln_a, ln_b, alpha, beta):
    """Compute-optimal parameters N_opt(C) = G · (C/6)^{β/(α+β)}.

    Reference: Hoffmann et al. 2022, arXiv:2203.15556, eq. 4 (with C = 6·N·D).
    """
    x = jnp.log(compute_flop / FLOP_PER_PARAMETER_TOKEN)
    return jnp.exp(_ln_g(ln_a, ln_b, alpha, beta) + beta / (alpha + beta) * x)


def compute_optimal_tokens(compute_flop, ln_a, ln_b, alpha, beta):
    """Compute-optimal tokens D_opt(C) = G⁻¹ · (C/6)^{α/(α+β)} (Hoffmann et al. 2022, eq. 4)."""
    x = jnp.log(compute_flop / FLOP_PER_PARAMETER_TOKEN)
    return jnp.exp(-_ln_g(ln_a, ln_b, alpha, beta) + alpha / (alpha + beta) * x)


def compute_optimal_tokens_for_parameters(parameters, ln_a, ln_b, alpha, beta):
    """Tokens that make `parameters` compute-optimal: invert N_opt(C), then D = (C/6)/N.

    From N = G·X^{β/(α+β)} with X = C/6: X = (N/G)^{(α+β)/β}. Reference: Hoffmann et al. 2022,
    eq. 4.
    """
    ln_x = (jnp.log(parameters) - _ln_g(ln_a, ln_b, alpha, beta)) * (alpha + beta) / beta
    return jnp.exp(ln_x - jnp.log(parameters))


def compute_optimal_loss_nats(compute_flop, loss_irreducible, ln_a, ln_b, alpha, beta):
    """Loss at the compute-optimal allocation of `compute_flop`: E + K · (C/6)^{−αβ/(α+β)}.

    At the optimum both terms fall as X^{−αβ/(α+β)}, with K = A·G^{−α} + B·G^{β}. Reference:
    Hoffmann et al. 2022, arXiv:2203.15556, eq. 4 substituted into eq. 2.
    """
    n = compute_optimal_parameters(compute_flop, ln_a, ln_b, alpha, beta)
    d = compute_optimal_tokens(compute_flop, ln_a, ln_b, alpha, beta)
    return loss_nats(n, d, loss_irreducible, ln_a, ln_b, alpha, beta)


def compute_for_target_loss_flop(target_loss_nats, loss_irreducible, ln_a, ln_b, alpha, beta):
    """Smallest compute reaching `target_loss_nats` (at the compute-optimal split); +inf if ≤ E.

    Inverts E + K · X^{−γ} = L with γ = αβ/(α+β) and K = A·G^{−α} + B·G^{β}:
    C = 6 · (K / (L − E))^{1/γ}. Reference: Hoffmann et al. 2022, eq. 2 and eq. 4.
    """
    ln_g = _ln_g(ln_a, ln_b, alpha, beta)
    k = jnp.exp(ln_a - alpha * ln_g) + jnp.exp(ln_b + beta * ln_g)
    gamma = alpha * beta / (alpha + beta)
    gap = target_loss_nats - loss_irreducible
    safe = jnp.where(gap > 0, gap, 1.0)
    flop = FLOP_PER_PARAMETER_TOKEN * jnp.exp((jnp.log(k) - jnp.log(safe)) / gamma)
    return jnp.where(gap > 0, flop, jnp.inf)


def tokens_for_target_loss(parameters, target_loss_nats, loss_irreducible, ln_a, ln_b, alpha, beta):
    """Tokens a model of `parameters` needs to reach `target_loss_nats`; +inf if it cannot.

    Solves E + A/N^α + B/D^β = L for D: D = (B / (L − E − A/N^α))^{1/β}. A target at or below
    E + A/N^α is out of reach at that size whatever the data (returns +inf). Reference: Hoffmann
    et al. 2022, arXiv:2203.15556, eq. 2.
    """
    gap = target_loss_nats - loss_irreducible - jnp.exp(ln_a - alpha * jnp.log(parameters))
    safe = jnp.where(gap > 0, gap, 1.0)
    tokens = jnp.exp((ln_b - jnp.log(safe)) / beta)
    return jnp.where(gap > 0, tokens, jnp.inf)


def accuracy_fraction(reducible_loss_nats, accuracy_chance_error_fraction, accuracy_floor_error_fraction,
                      accuracy_decay_per_nat):
    """Average downstream accuracy from the reducible loss: 1 − [ε − (ε − ε₀)·exp(−γ·(L − E))].

    The form is Gadre et al. 2024's top-1 error law, Err(L) = ε − k·exp(−γL) (arXiv:2403.08540,
    §3 and ``scaling/laws.py:decay_ours`` in github.com/mlfoundations/scaling), written in the
    reducible loss L − E so that it transfers between data sets and tokenizers whose irreducible
    losses differ, with k = ε − ε₀: ε is the error of a model at chance (L → ∞) and ε₀ the error
    of a model at the irreducible loss (L = E). The three parameters are priors.
    """
    k = accuracy_chance_error_fraction - accuracy_floor_error_fraction
    error = accuracy_chance_error_fraction - k * jnp.exp(-accuracy_decay_per_nat * reducible_loss_nats)
    return 1.0 - error


def critical_batch_kaplan_tokens(loss_nats, critical_batch_kaplan_tokens_at_unit_loss, critical_batch_kaplan_exponent):
    """Critical batch size in tokens as a function of loss: B_crit(L) = B* / L^{1/α_B}.

    Reference: Kaplan et al. 2020, arXiv:2001.08361, eq. 1.4 and Table 5 (B* ≈ 2·10⁸ tokens,
    α_B ≈ 0.21), after McCandlish et al. 2018, arXiv:1812.06162 (gradient noise scale).
    """
    return critical_batch_kaplan_tokens_at_unit_loss * loss_nats ** (-1.0 / critical_batch_kaplan_exponent)


def critical_batch_data_tokens(tokens, critical_batch_tokens_at_1e12, critical_batch_data_exponent):
    """Critical batch size in tokens as a power law in training tokens D, independent of N.

    B_crit(D) = B_ref · (D / 10¹²)^κ. Form: Zhang et al. 2024, arXiv:2410.21676 ("CBS scales
    primarily with data size rather than model size"); Bergsma et al. 2025, arXiv:2505.13738
    (B_opt and B_crit are power laws in D, independent of N). The constants are priors.
    """
    return critical_batch_tokens_at_1e12 * (tokens / 1.0e12) ** critical_batch_data_exponent


def data_efficiency_factor(batch_tokens, critical_batch_tokens):
    """Tokens needed at batch B relative to the small-batch minimum: E/E_min = 1 + B/B_crit.

    Reference: McCandlish et al. 2018, arXiv:1812.06162, eq. 2.11 ((S/S_min − 1)(E/E_min − 1) = 1
    with B_crit = E_min/S_min); Kaplan et al. 2020, eq. 5.4.
    """
    return 1.0 + batch_tokens / critical_batch_tokens


def batch_token_factor(batch_tokens, critical_batch_tokens, law_batch_critical_ratio):
    """Tokens needed at `batch_tokens` relative to the loss law's D.

    (1 + B/B_crit) / (1 + ρ): the law's D is taken as measured at batches ρ·B_crit (the fits' own
    batches, a fraction of the critical batch), so a run at B = ρ·B_crit needs exactly D, a run at
    B ≪ B_crit a little less, and one at B = B_crit about 2/(1 + ρ) times more. Reference: McCandlish
    et al. 2018, arXiv:1812.06162, eq. 2.11 (E = E_min (1 + B/B_crit)).
    """
    return data_efficiency_factor(batch_tokens, critical_batch_tokens) / (1.0 + law_batch_critical_ratio)


def reachable_loss_quantile_nats(prior, parameters: float, quantile: float, *, num_draws: int = 20_000) -> float:
    """Quantile of E + A/N^α (the loss a model of `parameters` reaches with unlimited data) under a
    joint `scaling_law_constants` prior. NumPy, fixed seed: a load-time check for target losses."""
    import numpy as np

    u = np.random.default_rng(0).uniform(1e-6, 1 - 1e-6, size=(num_draws, len(COMPONENTS)))
    k = split_constants(np.asarray(prior.icdf(jnp.asarray(u, jnp.float32)), np.float64), prior.components)
    floor = k["loss_irreducible"] + np.exp(k["ln_a"] - k["alpha"] * np.log(parameters))
    return float(np.quantile(floor, quantile))
