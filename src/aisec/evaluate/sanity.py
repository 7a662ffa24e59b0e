"""Sanity checks that flag evaluations likely to over-report robustness.

Each check returns a list of human-readable warnings (empty when nothing is suspicious). They
follow the advice of Athalye et al. and Carlini et al.: gradient masking shows up as zero or
vanishing gradients, as a black-box attack beating white-box ones, as randomness in the model, and
attacks need logits rather than probabilities. Non-finite outputs (NaN or infinite logits, on
clean or perturbed inputs) are reported too: ``argmax`` of a NaN row is class 0, so such a model
would get a robustness number it does not have; the evaluations turn that report into an error.

References:
    A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of Security:
    Circumventing Defenses to Adversarial Examples", ICML 2018.
    N. Carlini et al., "On Evaluating Adversarial Robustness", arXiv:1902.06705, 2019.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.models.plumbing import Model
from aisec.threat import ThreatModel, lp_norms

__all__ = [
    "RobustnessWarning",
    "check_blackbox_beats_whitebox",
    "check_finite_outputs",
    "check_gradients",
    "check_output_kind",
    "check_perturbed_outputs",
    "check_randomness",
    "emit",
]

VANISHING_GRADIENT = 1e-10
"""Input gradients whose largest entry is below this are reported as vanishing."""


class RobustnessWarning(UserWarning):
    """A warning that a robustness evaluation may over-report robustness."""


def emit(messages: list[str], stacklevel: int = 3) -> None:
    """Issue each message as a :class:`RobustnessWarning`."""
    for message in messages:
        warnings.warn(message, RobustnessWarning, stacklevel=stacklevel)


def check_finite_outputs(logits: Tensor, where: str = "inputs") -> list[str]:
    """Report NaN or infinite logits.

    Args:
        logits: ``(N, K)`` the model's outputs.
        where: what the ``N`` inputs were, for the message (e.g. ``"clean inputs"``).

    Returns:
        A message naming how many rows hold a NaN or infinite logit, or nothing.
    """
    if logits.numel() == 0:
        return []
    bad = int((~torch.isfinite(logits.detach())).reshape(logits.shape[0], -1).any(dim=1).sum())
    if not bad:
        return []
    return [
        f"the model returned NaN or infinite logits on {bad} of {logits.shape[0]} {where}: "
        f"predictions there are meaningless (argmax of NaN is class 0), so no robustness "
        f"number can be reported; check the model for overflow or division by zero"
    ]


def check_perturbed_outputs(
    model: Model, x: Tensor, threat: ThreatModel, *, seed: int = 0
) -> list[str]:
    """Report NaN or infinite logits on random points of the threat model around ``x``.

    A model can be finite on its clean inputs and not a step away from them (a log of a
    pixel difference, a division by a norm); every attack would then see NaN.

    Args:
        model: the classifier (already in eval mode).
        x: ``(n, ...)`` a few inputs inside ``threat.bounds``.
        threat: the threat model the points are drawn from (each on the sphere of radius
            ``eps``, then projected into the box).
        seed: seed of the random directions.

    Returns:
        :func:`check_finite_outputs`'s message on those points, or nothing.
    """
    if x.shape[0] == 0 or threat.eps == 0:
        return []
    generator = torch.Generator(device=x.device).manual_seed(seed)
    noise = 2.0 * torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) - 1.0
    norms = lp_norms(noise, threat.norm).clamp(min=1e-12)
    delta = noise * (threat.eps / norms).view(-1, *([1] * (x.ndim - 1)))
    with torch.no_grad():
        logits = model(threat.project(x + delta, x))
    return check_finite_outputs(logits, "random points of the threat model around the inputs")


def check_output_kind(logits: Tensor, atol: float = 1e-3) -> list[str]:
    """Warn when a model's outputs look like probabilities or log-probabilities, or are not
    finite.

    Args:
        logits: ``(N, K)`` the model's outputs on clean inputs.
        atol: tolerance on the row sums.

    Returns:
        A warning if some rows hold NaN or infinite values (:func:`check_finite_outputs`), if
        every row lies in ``[0, 1]`` and sums to 1 (softmax output), or if every entry is
        ``<= 0`` and every row's ``logsumexp`` is 0 (log-softmax output).
    """
    if logits.numel() == 0:
        return []
    nonfinite = check_finite_outputs(logits, "clean inputs")
    if nonfinite:
        return nonfinite
    out = logits.detach().double()
    in_unit = bool(((out >= 0) & (out <= 1)).all())
    if in_unit and bool(((out.sum(dim=1) - 1).abs() <= atol).all()):
        return [
            "the model's outputs look like probabilities (rows in [0, 1] summing to 1): attacks "
            "need logits, and a softmax output saturates the cross-entropy gradient; remove the "
            "final softmax"
        ]
    if bool((out <= atol).all()) and bool((out.logsumexp(dim=1).abs() <= atol).all()):
        return [
            "the model's outputs look like log-probabilities (log-softmax): margin-based attacks "
            "work, but return raw logits to avoid numerical saturation"
        ]
    return []


def check_randomness(model: Model, x: Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> list[str]:
    """Warn when two forward passes on the same inputs differ.

    Args:
        model: the classifier (already in eval mode).
        x: ``(n, ...)`` a few inputs.
        rtol: relative tolerance of the comparison.
        atol: absolute tolerance of the comparison.

    Returns:
        A warning if the model is randomized.
    """
    if x.shape[0] == 0:
        return []
    with torch.no_grad():
        first = model(x)
        second = model(x)
    if torch.allclose(first, second, rtol=rtol, atol=atol):
        return []
    gap = float((first - second).abs().max())
    return [
        f"the model is randomized: two forward passes on the same inputs differ (by up to "
        f"{gap:.3g} in the logits); gradient attacks then need Expectation over Transformation "
        f"(EOT), and the reported robustness is likely too high"
    ]


def check_gradients(model: Model, x: Tensor, y: Tensor) -> list[str]:
    """Warn when the input gradient of the cross-entropy is zero, vanishing or not finite.

    Args:
        model: the classifier (already in eval mode).
        x: ``(n, ...)`` inputs the model classifies correctly.
        y: ``(n,)`` their labels.

    Returns:
        Warnings for examples whose output is not finite, or whose gradient is all zero, below
        :data:`VANISHING_GRADIENT` everywhere, or contains NaN/inf.
    """
    n = x.shape[0]
    if n == 0:
        return []
    with torch.enable_grad():
        x_in = x.detach().clone().requires_grad_(True)
        logits = model(x_in)
        nonfinite = check_finite_outputs(logits, "correctly classified examples")
        if nonfinite:
            return nonfinite
        loss = F.cross_entropy(logits, y, reduction="sum")
        if not loss.requires_grad:
            return [
                "the model's output does not depend differentiably on its input (no gradient "
                "graph): white-box attacks cannot work; use BPDA or black-box attacks"
            ]
        (grad,) = torch.autograd.grad(loss, x_in, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(x)
    flat = grad.reshape(n, -1)
    messages = []
    bad = int((~torch.isfinite(flat)).any(dim=1).sum())
    if bad:
        messages.append(
            f"{bad} of {n} examples have NaN or infinite input gradients: white-box attacks "
            f"are unreliable on this model"
        )
    biggest = flat.abs().nan_to_num(0.0).amax(dim=1)
    zero = int((biggest == 0).sum())
    vanishing = int(((biggest > 0) & (biggest < VANISHING_GRADIENT)).sum())
    if zero or vanishing:
        messages.append(
            f"gradient masking: {zero} of {n} correctly classified examples have an all-zero "
            f"input gradient and {vanishing} a vanishing one (< {VANISHING_GRADIENT:g}); "
            f"gradient attacks see nothing there. Look for non-differentiable steps (rounding, "
            f"argmax, quantization: use BPDA) or saturated outputs (return logits)"
        )
    return messages


def check_blackbox_beats_whitebox(
    broken_by_blackbox: int, n: int, attack: str, threshold: float = 0.01
) -> list[str]:
    """Warn when a black-box attack breaks points that the white-box attacks could not.

    Args:
        broken_by_blackbox: points still robust after the white-box attacks that the black-box
            attack then broke.
        n: points evaluated.
        attack: the black-box attack's name.
        threshold: warn when more than this fraction of the ``n`` points is affected.

    Returns:
        A warning when ``broken_by_blackbox > max(threshold · n, 1)``: a single point is not
        enough evidence (a random search sometimes gets lucky on a robust model).
    """
    if n == 0 or broken_by_blackbox <= max(threshold * n, 1):
        return []
    return [
        f"the black-box attack {attack} broke {broken_by_blackbox} of {n} points "
        f"({broken_by_blackbox / n:.1%}) that the white-box attacks could not: a sign of gradient "
        f"masking, so white-box results on this model are not trustworthy"
    ]
