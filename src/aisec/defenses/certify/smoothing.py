"""Randomized smoothing: a classifier with a certified L2 radius (Cohen, Rosenfeld & Kolter 2019).

The smoothed classifier of a base classifier ``f`` is

    g(x) = argmax_c  P(f(x + ε) = c),    ε ~ N(0, σ² I).

If the most probable class ``c_A`` has probability ``p_A`` and every other class at most
``p_B``, then ``g(x + δ) = c_A`` for every ``‖δ‖₂ < σ/2 · (Φ⁻¹(p_A) − Φ⁻¹(p_B))``; with
``p_B = 1 − p_A`` this is ``σ · Φ⁻¹(p_A)`` (Theorem 1 of the paper). The probabilities are
estimated by Monte Carlo, so every answer holds with probability at least ``1 − α`` over the
noise, and the procedures abstain when the samples do not support an answer at that level:

* :meth:`RandomizedSmoothing.predict` — PREDICT: the two most frequent classes among ``n``
  noisy copies and a two-sided binomial test of their counts; abstains when the p-value exceeds
  ``α``. With probability at least ``1 − α`` it does not return a class other than ``g(x)``.
* :meth:`RandomizedSmoothing.certify` — CERTIFY: the class is chosen on ``n0`` copies, then its
  probability is bounded from below on ``n`` fresh copies with the one-sided Clopper–Pearson
  bound ``p_A_lower`` at level ``α``; the radius is ``σ · Φ⁻¹(p_A_lower)``, and it abstains
  when ``p_A_lower < 1/2``. With probability at least ``1 − α``, a returned class ``c`` with
  radius ``R`` satisfies ``g(x + δ) = c`` for all ``‖δ‖₂ < R``.

As in the paper, the noise is added in input space and the noisy images are **not** clipped to
the image bounds: the base model sees values outside [0, 1]; train it with the same noise
(Gaussian data augmentation) for useful radii.

Noise is sampled in large batched tensors: each forward pass classifies ``batch_size`` noisy
copies (of one input, or of several inputs at once when ``n < batch_size``), drawn into one
reused buffer; counting is a single ``bincount`` per batch. There is no Python loop per sample.

Reference:
    J. Cohen, E. Rosenfeld, J. Z. Kolter, "Certified Adversarial Robustness via Randomized
    Smoothing", ICML 2019.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor, nn

from aisec.models.plumbing import Model, eval_mode
from aisec.seeding import check_ids, example_generator

__all__ = [
    "ABSTAIN",
    "Certificate",
    "RandomizedSmoothing",
    "SmoothedPrediction",
    "binomial_p_value",
    "clopper_pearson_lower",
]

ABSTAIN = -1
"""The class index returned where the smoothed classifier abstains."""


def _check_count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_alpha(alpha: object) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise TypeError(f"alpha must be a float, got {type(alpha).__name__}")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), e.g. 0.001, got {alpha}")
    return float(alpha)


def clopper_pearson_lower(successes: Tensor, trials: int, alpha: float) -> Tensor:
    """One-sided Clopper–Pearson lower confidence bound on a binomial proportion.

    For ``k`` successes in ``n`` trials the bound is the ``α`` quantile of
    ``Beta(k, n − k + 1)`` (0 when ``k = 0``): the smallest ``p`` with
    ``P(Bin(n, p) ≥ k) ≥ α``. It is below the true proportion with probability at least
    ``1 − α``.

    Args:
        successes: ``(N,)`` integer counts in ``[0, trials]``.
        trials: the number of trials ``n >= 1``.
        alpha: the error probability in (0, 1).

    Returns:
        ``(N,)`` float64 lower bounds in [0, 1], on the CPU.

    Reference:
        C. J. Clopper, E. S. Pearson, "The use of confidence or fiducial limits illustrated in
        the case of the binomial", Biometrika 1934.
    """
    trials = _check_count("trials", trials)
    alpha = _check_alpha(alpha)
    if not isinstance(successes, Tensor) or successes.is_floating_point():
        raise TypeError("successes must be an integer tensor of counts")
    k = successes.detach().cpu().to(torch.int64).numpy()
    if k.size and (k.min() < 0 or k.max() > trials):
        raise ValueError(f"successes must lie in [0, {trials}], got [{k.min()}, {k.max()}]")
    bound = np.zeros(k.shape, dtype=np.float64)
    positive = k > 0
    bound[positive] = stats.beta.ppf(alpha, k[positive], trials - k[positive] + 1)
    return torch.from_numpy(bound)


def binomial_p_value(count_a: Tensor, count_b: Tensor) -> Tensor:
    """Two-sided p-value of the binomial test ``count_a ~ Bin(count_a + count_b, 1/2)``.

    This is the test of PREDICT: is the top class really more probable than the runner-up?
    (The same value as ``scipy.stats.binomtest(count_a, count_a + count_b, 0.5).pvalue``.)

    Args:
        count_a: ``(N,)`` counts of the top class.
        count_b: ``(N,)`` counts of the runner-up.

    Returns:
        ``(N,)`` float64 p-values on the CPU (1 where both counts are 0).
    """
    a = count_a.detach().cpu().to(torch.int64).numpy()
    b = count_b.detach().cpu().to(torch.int64).numpy()
    if a.size and (a.min() < 0 or b.min() < 0):
        raise ValueError("counts must be >= 0")
    # The distribution is symmetric at p = 1/2: the two-sided p-value doubles the smaller tail.
    p = np.minimum(1.0, 2.0 * stats.binom.cdf(np.minimum(a, b), a + b, 0.5))
    return torch.from_numpy(np.asarray(p, dtype=np.float64))


def _tolist(value: Tensor) -> list[Any]:
    result: list[Any] = value.detach().cpu().tolist()
    return result


@dataclass(frozen=True)
class SmoothedPrediction:
    """The result of PREDICT on a batch.

    With probability at least ``1 − alpha`` (over the noise), each non-abstained ``prediction``
    equals the smoothed classifier's class ``g(x)``. All tensors are on the CPU.

    Attributes:
        prediction: ``(N,)`` int64 classes, :data:`ABSTAIN` (-1) where abstained.
        abstained: ``(N,)`` bool.
        counts: ``(N, K)`` int64 votes of the ``n`` noisy copies per class.
        p_value: ``(N,)`` float64 binomial-test p-values (abstain where ``> alpha``).
        sigma: the noise level σ.
        n: noisy copies per input.
        alpha: the error probability.
        time_s: wall time of the call.
    """

    prediction: Tensor
    abstained: Tensor
    counts: Tensor
    p_value: Tensor
    sigma: float
    n: int
    alpha: float
    time_s: float

    def accuracy(self, labels: Tensor) -> float:
        """Fraction of inputs predicted as their label (an abstention counts as wrong)."""
        if labels.shape != self.prediction.shape:
            raise ValueError(f"labels must have shape {tuple(self.prediction.shape)}")
        return float((self.prediction == labels.cpu()).double().mean())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready per-input lists and the settings."""
        return {
            "sigma": self.sigma,
            "n": self.n,
            "alpha": self.alpha,
            "time_s": self.time_s,
            "abstain_rate": float(self.abstained.double().mean()) if self.abstained.numel() else 0,
            "prediction": _tolist(self.prediction),
            "abstained": _tolist(self.abstained),
            "counts": _tolist(self.counts),
            "p_value": _tolist(self.p_value),
        }


@dataclass(frozen=True)
class Certificate:
    """The result of CERTIFY on a batch.

    With probability at least ``1 − alpha`` (over the noise), for each input that was not
    abstained on, the smoothed classifier returns ``prediction`` on every point within L2
    distance ``radius`` of it: ``g(x + δ) = prediction`` for all ``‖δ‖₂ < radius``. All tensors
    are on the CPU.

    Attributes:
        prediction: ``(N,)`` int64 classes, :data:`ABSTAIN` (-1) where abstained.
        radius: ``(N,)`` float64 certified L2 radii ``σ · Φ⁻¹(p_A_lower)``; 0 where abstained.
        p_a_lower: ``(N,)`` float64 Clopper–Pearson lower bounds on ``p_A``.
        abstained: ``(N,)`` bool, where ``p_a_lower < 1/2``.
        counts: ``(N, K)`` int64 votes of the ``n`` estimation copies per class.
        sigma: the noise level σ.
        n0: copies used to select the class.
        n: copies used to estimate ``p_A``.
        alpha: the error probability.
        time_s: wall time of the call.
    """

    prediction: Tensor
    radius: Tensor
    p_a_lower: Tensor
    abstained: Tensor
    counts: Tensor
    sigma: float
    n0: int
    n: int
    alpha: float
    time_s: float

    def certified(self, radius: float) -> Tensor:
        """``(N,)`` bool: a class is certified at L2 radius ``radius`` (not abstained, R ≥ r)."""
        return ~self.abstained & (self.radius >= radius)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready per-input lists and the settings (without the per-class counts)."""
        return {
            "sigma": self.sigma,
            "n0": self.n0,
            "n": self.n,
            "alpha": self.alpha,
            "time_s": self.time_s,
            "abstain_rate": float(self.abstained.double().mean()) if self.abstained.numel() else 0,
            "prediction": _tolist(self.prediction),
            "radius": _tolist(self.radius),
            "p_a_lower": _tolist(self.p_a_lower),
            "abstained": _tolist(self.abstained),
        }


class RandomizedSmoothing:
    """The Gaussian-smoothed version of a base classifier, with PREDICT and CERTIFY.

    Any classifier works as the base (``images -> logits``); it is put in eval mode for the
    calls and its previous mode restored afterwards. Noise ``N(0, σ² I)`` is added in input
    space without clipping, as in the paper.

    Args:
        base_model: a classifier ``(B, C, H, W) -> (B, K)`` logits (any ``(B, ...)`` input).
        sigma: the noise standard deviation σ > 0 (in the units of the inputs, e.g. [0, 1]).
        num_classes: ``K``; by default read from the model's first output.

    Reference:
        J. Cohen, E. Rosenfeld, J. Z. Kolter, "Certified Adversarial Robustness via Randomized
        Smoothing", ICML 2019.
    """

    def __init__(self, base_model: Model, sigma: float, *, num_classes: int | None = None) -> None:
        if not callable(base_model):
            raise TypeError(f"base_model must be callable, got {type(base_model).__name__}")
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
            raise TypeError(f"sigma must be a float, got {type(sigma).__name__}")
        if not (math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a finite float > 0, e.g. 0.25, got {sigma}")
        if num_classes is not None:
            num_classes = _check_count("num_classes", num_classes, 2)
        self.base_model = base_model
        self.sigma = float(sigma)
        self.num_classes = num_classes

    def _check_x(self, x: object) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"x must be a floating-point tensor (e.g. float32 in [0, 1]), got {x.dtype}"
            )
        if x.ndim < 2:
            raise ValueError(f"x must be a batch of shape (N, C, H, W), got {tuple(x.shape)}")
        if x.numel() and not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or infinite values")
        return x.detach()

    def _generator(
        self, x: Tensor, generator: torch.Generator | None, seed: int
    ) -> torch.Generator:
        if generator is None:
            seed = _check_count("seed", seed, 0)
            return torch.Generator(device=x.device).manual_seed(seed)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if generator.device.type != x.device.type:
            raise ValueError(
                f"generator is on {generator.device} but x is on {x.device}; "
                "create the generator on x's device"
            )
        return generator

    def sample_counts(
        self,
        x: Tensor,
        num: int,
        *,
        batch_size: int = 1000,
        generator: torch.Generator | None = None,
        seed: int = 0,
        ids: Tensor | None = None,
        stream: int = 0,
    ) -> Tensor:
        """Classify ``num`` noisy copies of each input and count the votes per class.

        Copies are drawn in batches of ``batch_size``: one input's copies per batch when
        ``num >= batch_size``, else ``batch_size // num`` inputs' copies at once. The noise of
        consecutive copies comes from consecutive draws of ``generator``. With ``ids``, each
        input's copies come from its own generator, keyed by ``(seed, its id, stream)``
        (:func:`aisec.seeding.example_generator`), in batches of its own copies only, so its
        votes do not depend on the other inputs (nor on a shard or worker).

        Args:
            x: ``(N, C, H, W)`` inputs (any ``(N, ...)`` the model accepts).
            num: noisy copies per input.
            batch_size: noisy copies per forward pass.
            generator: the source of the noise, on ``x``'s device; default a new one seeded
                with ``seed``.
            seed: seed of the default generator (of every input's, with ``ids``).
            ids: ``(N,)`` int64 indices of the inputs in their data set, or ``None``.
            stream: with ``ids``, which independent draw of the inputs' noise this is.

        Returns:
            ``(N, K)`` int64 vote counts; each row sums to ``num``.
        """
        x = self._check_x(x)
        num = _check_count("num", num)
        batch_size = _check_count("batch_size", batch_size)
        ids = check_ids(ids, int(x.shape[0]), x.device)
        if ids is not None and generator is not None:
            raise ValueError("give a generator or ids (per-input noise), not both")
        gen = self._generator(x, generator, seed) if ids is None else None
        n_inputs, shape = x.shape[0], tuple(x.shape[1:])
        # Inputs per forward pass (never more than there are, to keep the buffer small); with
        # ids, one input's copies at a time, from its own generator.
        per_batch = 1 if num >= batch_size else max(1, min(batch_size // num, n_inputs))
        if ids is not None:
            per_batch = 1
        copies = min(num, batch_size)  # copies per input and forward pass
        counts: Tensor | None = None
        if self.num_classes is not None:
            counts = torch.zeros(n_inputs, self.num_classes, dtype=torch.int64, device=x.device)
        buffer = torch.empty((per_batch, copies, *shape), dtype=x.dtype, device=x.device)
        offsets = torch.arange(per_batch, device=x.device).repeat_interleave(copies)
        with eval_mode(self.base_model), torch.inference_mode():
            for start in range(0, n_inputs, per_batch):
                k = min(per_batch, n_inputs - start)
                if ids is not None:
                    gen = example_generator(seed, int(ids[start]), stream, device=x.device)
                for done in range(0, num, copies):
                    m = min(copies, num - done)
                    noise = buffer[:k, :m]  # contiguous: either k == 1 or m == copies
                    noise.normal_(0.0, self.sigma, generator=gen)
                    noise.add_(x[start : start + k].unsqueeze(1))
                    logits = self.base_model(noise.view(k * m, *shape))
                    counts = self._add_votes(counts, logits, k, m, start, offsets, n_inputs)
        if counts is None:  # no inputs and no num_classes given
            return torch.zeros(0, 0, dtype=torch.int64, device=x.device)
        return counts

    def _add_votes(
        self,
        counts: Tensor | None,
        logits: Tensor,
        k: int,
        m: int,
        start: int,
        offsets: Tensor,
        n_inputs: int,
    ) -> Tensor:
        if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != k * m:
            got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ValueError(f"the base model must return logits of shape ({k * m}, K), got {got}")
        if counts is None:
            if logits.shape[1] < 2:
                raise ValueError(f"the base model must output K >= 2 logits, got {logits.shape[1]}")
            counts = torch.zeros(n_inputs, logits.shape[1], dtype=torch.int64, device=logits.device)
        num_classes = counts.shape[1]
        if logits.shape[1] != num_classes:
            raise ValueError(
                f"the base model returned {logits.shape[1]} logits, expected num_classes="
                f"{num_classes}"
            )
        votes = logits.argmax(dim=1)
        # Vote j of this batch belongs to input start + offsets[j] (k == 1 or m == copies).
        index = votes + offsets[: k * m] * num_classes
        counts[start : start + k] += torch.bincount(index, minlength=k * num_classes).view(
            k, num_classes
        )
        return counts

    def predict(
        self,
        x: Tensor,
        *,
        n: int = 100_000,
        alpha: float = 0.001,
        batch_size: int = 1000,
        generator: torch.Generator | None = None,
        seed: int = 0,
        ids: Tensor | None = None,
    ) -> SmoothedPrediction:
        """PREDICT: the smoothed classifier's class, or an abstention.

        With probability at least ``1 − alpha`` over the noise, each returned class is the
        smoothed classifier's ``g(x)`` (an abstention is never wrong, only unhelpful).

        Args:
            x: ``(N, C, H, W)`` inputs.
            n: noisy copies per input (the paper's default: 100,000).
            alpha: the error probability (the paper's default: 0.001).
            batch_size: noisy copies per forward pass.
            generator: the source of the noise, on ``x``'s device; default a new one seeded
                with ``seed``.
            seed: seed of the default generator.
            ids: ``(N,)`` int64 indices of the inputs: each input's noise is keyed by
                ``(seed, its index)`` (see :meth:`sample_counts`).

        Returns:
            A :class:`SmoothedPrediction`.
        """
        began = time.perf_counter()
        n = _check_count("n", n)
        alpha = _check_alpha(alpha)
        counts = self.sample_counts(
            x, n, batch_size=batch_size, generator=generator, seed=seed, ids=ids
        )
        counts = counts.cpu()
        if counts.shape[0] == 0:
            empty = torch.zeros(0, dtype=torch.int64)
            return SmoothedPrediction(
                empty, empty.bool(), counts, empty.double(), self.sigma, n, alpha, 0.0
            )
        top = counts.topk(2, dim=1)
        p_value = binomial_p_value(top.values[:, 0], top.values[:, 1])
        abstained = p_value > alpha
        prediction = torch.where(abstained, ABSTAIN, top.indices[:, 0])
        return SmoothedPrediction(
            prediction,
            abstained,
            counts,
            p_value,
            self.sigma,
            n,
            alpha,
            time.perf_counter() - began,
        )

    def certify(
        self,
        x: Tensor,
        *,
        n0: int = 100,
        n: int = 100_000,
        alpha: float = 0.001,
        batch_size: int = 1000,
        generator: torch.Generator | None = None,
        seed: int = 0,
        ids: Tensor | None = None,
    ) -> Certificate:
        """CERTIFY: a class and an L2 radius within which the smoothed classifier keeps it.

        The class ``c_A`` is the most frequent among ``n0`` noisy copies; ``p_A_lower`` is the
        one-sided Clopper–Pearson lower bound (level ``alpha``) on its probability from ``n``
        fresh copies; the radius is ``σ · Φ⁻¹(p_A_lower)``, and the procedure abstains when
        ``p_A_lower < 1/2``. With probability at least ``1 − alpha`` over the noise, for every
        input not abstained on, ``g(x + δ) = c_A`` for all ``‖δ‖₂ < radius``. The largest radius
        it can return is ``σ · Φ⁻¹(alpha^(1/n))`` (all ``n`` copies voting ``c_A``).

        Args:
            x: ``(N, C, H, W)`` inputs.
            n0: copies used to select the class (the paper's default: 100).
            n: copies used to estimate ``p_A`` (the paper's default: 100,000).
            alpha: the error probability (the paper's default: 0.001).
            batch_size: noisy copies per forward pass.
            generator: the source of the noise, on ``x``'s device; default a new one seeded
                with ``seed``. The selection and estimation copies are consecutive, independent
                draws.
            seed: seed of the default generator.
            ids: ``(N,)`` int64 indices of the inputs: each input's selection and estimation
                noise is keyed by ``(seed, its index)`` (see :meth:`sample_counts`).

        Returns:
            A :class:`Certificate`.
        """
        began = time.perf_counter()
        n0 = _check_count("n0", n0)
        n = _check_count("n", n)
        alpha = _check_alpha(alpha)
        x = self._check_x(x)
        if ids is not None:
            if generator is not None:
                raise ValueError("give a generator or ids (per-input noise), not both")
            selection = self.sample_counts(x, n0, batch_size=batch_size, seed=seed, ids=ids)
            estimation = self.sample_counts(
                x, n, batch_size=batch_size, seed=seed, ids=ids, stream=1
            ).cpu()
        else:
            gen = self._generator(x, generator, seed)
            selection = self.sample_counts(x, n0, batch_size=batch_size, generator=gen)
            estimation = self.sample_counts(x, n, batch_size=batch_size, generator=gen).cpu()
        if estimation.shape[0] == 0:
            empty = torch.zeros(0, dtype=torch.int64)
            zeros = torch.zeros(0, dtype=torch.float64)
            return Certificate(
                empty, zeros, zeros, empty.bool(), estimation, self.sigma, n0, n, alpha, 0.0
            )
        c_a = selection.argmax(dim=1).cpu()
        count_a = estimation.gather(1, c_a.unsqueeze(1)).squeeze(1)
        p_a_lower = clopper_pearson_lower(count_a, n, alpha)
        abstained = p_a_lower < 0.5
        radius = torch.from_numpy(
            self.sigma * stats.norm.ppf(np.maximum(p_a_lower.numpy(), 0.5))
        ).masked_fill(abstained, 0.0)
        prediction = torch.where(abstained, ABSTAIN, c_a)
        return Certificate(
            prediction,
            radius,
            p_a_lower,
            abstained,
            estimation,
            self.sigma,
            n0,
            n,
            alpha,
            time.perf_counter() - began,
        )


class NoisyEnsemble(nn.Module):
    """A differentiable stand-in for the smoothed classifier, for attacking it (EOT).

    ``forward(x)`` returns ``log(mean_j softmax(f(x + ε_j)))`` over ``samples`` fresh Gaussian
    draws ``ε_j ~ N(0, σ² I)``: gradients of a loss on it are averaged over the noise, as in
    the SmoothAdv attack of Salman et al. (2019), so a gradient attack (e.g. L2
    :class:`~aisec.attacks.PGD`) on this module attacks the smoothed classifier rather than the
    base model. Each call draws new noise from the module's own generator.

    Args:
        base_model: the base classifier (an ``nn.Module``).
        sigma: the noise standard deviation of the smoothed classifier.
        samples: noise draws per input and forward pass.
        seed: seed of the module's generator (created on the first input's device).

    Reference:
        H. Salman, G. Yang, J. Li, P. Zhang, H. Zhang, I. Razenshteyn, S. Bubeck, "Provably
        Robust Deep Learning via Adversarially Trained Smoothed Classifiers", NeurIPS 2019.
    """

    def __init__(self, base_model: nn.Module, sigma: float, *, samples: int = 32, seed: int = 0):
        super().__init__()
        if not (isinstance(sigma, (int, float)) and math.isfinite(sigma) and sigma > 0):
            raise ValueError(f"sigma must be a finite float > 0, got {sigma}")
        self.base_model = base_model
        self.sigma = float(sigma)
        self.samples = _check_count("samples", samples)
        self.seed = _check_count("seed", seed, 0)
        self._generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        """``(B, ...)`` inputs -> ``(B, K)`` log of the noise-averaged class probabilities."""
        if self._generator is None or self._generator.device.type != x.device.type:
            self._generator = torch.Generator(device=x.device).manual_seed(self.seed)
        noise = torch.randn(
            (x.shape[0], self.samples, *x.shape[1:]),
            generator=self._generator,
            dtype=x.dtype,
            device=x.device,
        )
        noisy = (x.unsqueeze(1) + self.sigma * noise).flatten(0, 1)
        logits: Tensor = self.base_model(noisy)
        probs = logits.softmax(dim=1).view(x.shape[0], self.samples, -1).mean(dim=1)
        return probs.clamp_min(1e-12).log()
