"""Evaluation of the feature-squeezing detector against oblivious and adaptive attacks.

:func:`evaluate_feature_squeezing` calibrates the detector's threshold at a target
false-positive rate on clean images, then measures, for PGD and Carlini–Wagner L2 examples
(which do not know the detector) and for an adaptive attack that does:

* the ROC AUC of the score, clean images against successful adversarial examples;
* the detection rate at the threshold (of the successful adversarial examples);
* the fraction of evaluated points whose adversarial example both fools the model and evades
  the detector — the number that matters to a defender.

The adaptive attack (:func:`detector_aware_pgd`) attacks the model and every squeezed model at
once — if all of them misclassify, their softmax outputs agree and the score stays low — and
also lowers the score directly, differentiating through the squeezers with BPDA. It follows the
evaluations that broke feature squeezing (He et al., 2017; Carlini & Wagner, 2017).

References:
    W. Xu, D. Evans, Y. Qi, "Feature Squeezing", NDSS 2018; W. He, J. Wei, X. Chen, N. Carlini,
    D. Song, "Adversarial Example Defenses: Ensembles of Weak Defenses are not Strong", WOOT
    2017; N. Carlini, D. Wagner, "Adversarial Examples Are Not Easily Detected: Bypassing Ten
    Detection Methods", AISec 2017.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from aisec.attacks.base import EvasionAttack, predict, validate_inputs
from aisec.attacks.evasion import (
    PGD,
    CarliniWagnerL2,
    ExactProjector,
    InputLoss,
    Iterate,
    LossContext,
    projected_gradient_ascent,
)
from aisec.attacks.evasion.losses import targeted_margin
from aisec.defenses.detect.squeezing import FeatureSqueezing, roc_auc
from aisec.defenses.preprocess.base import check_images
from aisec.evaluate.robustness import run_attack
from aisec.models.plumbing import Model, eval_mode
from aisec.threat import ThreatModel

__all__ = [
    "DetectionOutcome",
    "DetectorAwareLoss",
    "SqueezingReport",
    "detector_aware_pgd",
    "evaluate_feature_squeezing",
]


@dataclass
class DetectionOutcome:
    """How one attack fares against the model and the detector.

    Attributes:
        attack: the attack's description.
        adaptive: whether the attack knows the detector.
        attacked: points attacked (those the model classifies correctly).
        fooled: of those, points whose adversarial example the model misclassifies.
        auc: ROC AUC of the score, clean points against the fooling examples (``None`` if
            there are none).
        detection_rate: fraction of the fooling examples flagged at the threshold (``None`` if
            there are none).
        fool_and_evade: fraction of the attacked points whose example fools the model and is
            not flagged (the attacker's real success rate).
        mean_norm: mean perturbation norm of the fooling examples (``None`` if none), in the
            attack's threat-model norm.
    """

    attack: str
    adaptive: bool
    attacked: int
    fooled: int
    auc: float | None
    detection_rate: float | None
    fool_and_evade: float
    mean_norm: float | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the fields."""
        return dict(vars(self))


@dataclass
class SqueezingReport:
    """The outcome of :func:`evaluate_feature_squeezing`.

    Attributes:
        squeezers: the detector's squeezer specs.
        threshold: the score threshold (flag when above).
        target_fpr: the false-positive rate the threshold was chosen for.
        clean_fpr: the fraction of the evaluated clean points flagged.
        n: points evaluated.
        outcomes: one :class:`DetectionOutcome` per attack.
    """

    squeezers: list[str]
    threshold: float
    target_fpr: float
    clean_fpr: float
    n: int
    outcomes: list[DetectionOutcome] = field(default_factory=list)

    def outcome(self, attack: str) -> DetectionOutcome:
        """The outcome whose attack name starts with ``attack`` (e.g. ``"PGD"``, ``"adaptive"``)."""
        for item in self.outcomes:
            if item.attack.startswith(attack):
                return item
        raise KeyError(f"no outcome for {attack!r}; have {[o.attack for o in self.outcomes]}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict."""
        return {
            "squeezers": list(self.squeezers),
            "threshold": self.threshold,
            "target_fpr": self.target_fpr,
            "clean_fpr": self.clean_fpr,
            "n": self.n,
            "outcomes": [o.to_dict() for o in self.outcomes],
        }


class DetectorAwareLoss(InputLoss):
    """The loss of an attack on a model guarded by feature squeezing.

    ``Σ_v min(margin(f(v(x'))), κ) − λ·score(x')`` per example, over the views ``v`` (the
    identity and each squeezer of the detector; ``margin = max_{j≠y} z_j − z_y``): if the model
    misclassifies every view, their softmax outputs agree and the detector's score stays low,
    and the score term lowers it directly. Gradients pass through the squeezers by BPDA. As an
    :class:`~aisec.attacks.evasion.InputLoss` it runs the attacked model on each view, so any
    PGD can ascend it (``PGD(threat, loss=DetectorAwareLoss(detector))``).

    Args:
        detector: the detector whose squeezers and score the loss sees.
        lam: the weight ``λ`` of the detector score.
        kappa: the margin ``κ`` (in logits) beyond which a view's margin stops counting.

    Reference:
        W. He, J. Wei, X. Chen, N. Carlini, D. Song, "Adversarial Example Defenses: Ensembles
        of Weak Defenses are not Strong", WOOT 2017.
    """

    def __init__(self, detector: FeatureSqueezing, *, lam: float = 1.0, kappa: float = 2.0) -> None:
        if not isinstance(detector, FeatureSqueezing):
            raise TypeError(f"detector must be a FeatureSqueezing, got {type(detector).__name__}")
        self.detector = detector
        self.lam = float(lam)
        self.kappa = float(kappa)

    def __repr__(self) -> str:
        return f"DetectorAwareLoss(lam={self.lam:g}, kappa={self.kappa:g})"

    def terms(self, model: Model, x_adv: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The loss, the model's logits and the detector's score at ``x_adv``.

        Args:
            model: the detector's model (or a wrapper of it, e.g. one that counts calls).
            x_adv: ``(n, C, H, W)`` points.
            y: ``(n,)`` labels.

        Returns:
            ``(n,)`` losses (with their graph), ``(n, K)`` logits and ``(n,)`` scores.
        """
        x_adv = check_images(x_adv)
        views = [model(x_adv), *(model(squeeze(x_adv)) for squeeze in self.detector.squeezers)]
        score = self.detector.score_from_logits(views)
        margins = torch.stack([targeted_margin(v, y).clamp(max=self.kappa) for v in views])
        return margins.sum(dim=0) - self.lam * score, views[0], score

    def __call__(self, model: Model, x_adv: Tensor, context: LossContext) -> tuple[Tensor, Tensor]:
        """The ``(n,)`` losses and the ``(n, K)`` logits at ``x_adv``."""
        loss, logits, _ = self.terms(model, x_adv, context.labels())
        return loss, logits


def detector_aware_pgd(
    detector: FeatureSqueezing,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    steps: int = 100,
    step_size: float | None = None,
    lam: float = 1.0,
    kappa: float = 2.0,
    seed: int = 0,
) -> Tensor:
    """PGD that fools the model while keeping the feature-squeezing score low.

    Ascends :class:`DetectorAwareLoss` with
    :func:`~aisec.attacks.evasion.projected_gradient_ascent`: signed (L∞) or normalized (L2)
    gradient steps from a random start (L∞; L2 starts at ``x``), each projected exactly onto
    the threat model. Every point takes every step (``steps + 1`` evaluations), and per point it
    returns the misclassified iterate with the lowest score, or the last iterate if none was
    misclassified.

    Args:
        detector: the detector (its model is attacked too).
        x: ``(N, C, H, W)`` clean images inside ``threat.bounds``.
        y: ``(N,)`` labels.
        threat: the threat model (L∞ or L2).
        steps: iterations.
        step_size: step length (default ``2.5·eps/steps``, as PGD).
        lam: the weight ``λ`` of the detector score.
        kappa: the margin ``κ`` (in logits) beyond which a view's margin stops counting.
        seed: seed of the random start.

    Returns:
        ``(N, C, H, W)`` adversarial examples inside the threat model.
    """
    if not isinstance(detector, FeatureSqueezing):
        raise TypeError(f"detector must be a FeatureSqueezing, got {type(detector).__name__}")
    if threat.norm not in ("linf", "l2"):
        raise ValueError(f"detector_aware_pgd supports linf and l2, got {threat.norm!r}")
    x, y, _ = validate_inputs(x, y, None, threat, min_ndim=4)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    alpha = 2.5 * threat.eps / steps if step_size is None else float(step_size)
    loss = DetectorAwareLoss(detector, lam=lam, kappa=kappa)
    # The start is drawn on the CPU, so that a seed gives the same start on every device.
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(x.shape, generator=generator).to(device=x.device, dtype=x.dtype)
    start = x + (2 * noise - 1) * threat.eps if threat.norm == "linf" else x.clone()
    project = ExactProjector(x, threat)
    best = x.clone()
    best_score = torch.full((x.shape[0],), math.inf, device=x.device)

    def objective(x_adv: Tensor, context: LossContext) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        value, logits, score = loss.terms(detector.model, x_adv, context.labels())
        return value, (logits, score)

    def lowest_score(iterate: Iterate[tuple[Tensor, Tensor]]) -> None:
        logits, score = iterate.info
        fooled = logits.argmax(dim=1) != iterate.context.labels()
        better = fooled & (score < best_score)
        best[better] = iterate.x[better]
        best_score[better] = score[better]

    with eval_mode(detector):
        x_adv = projected_gradient_ascent(
            objective,
            project(start.clamp(*threat.bounds)),
            LossContext(y),
            project,
            norm=threat.norm,
            step_size=alpha,
            steps=steps + 1,
            observe=lowest_score,
        )
    never = torch.isinf(best_score)
    best[never] = x_adv[never]
    return best


def _outcome(
    name: str,
    adaptive: bool,
    detector: FeatureSqueezing,
    x_adv: Tensor,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    clean_scores: Tensor,
    batch_size: int,
) -> DetectionOutcome:
    with torch.no_grad():
        logits = torch.cat(
            [detector.model(x_adv[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        )
        pred = predict(logits, f"adversarial examples of {name}")
    fooled = pred != y
    scores = detector.scores(x_adv, batch_size)
    assert detector.threshold is not None
    flagged = scores > detector.threshold
    n_fooled = int(fooled.sum())
    norms = threat.norms(x_adv - x)[fooled]
    return DetectionOutcome(
        attack=name,
        adaptive=adaptive,
        attacked=int(x.shape[0]),
        fooled=n_fooled,
        auc=roc_auc(clean_scores, scores[fooled]) if n_fooled else None,
        detection_rate=float(flagged[fooled].double().mean()) if n_fooled else None,
        fool_and_evade=float((fooled & ~flagged).double().mean()) if x.shape[0] else 0.0,
        mean_norm=float(norms.double().mean()) if n_fooled else None,
    )


def evaluate_feature_squeezing(
    detector: FeatureSqueezing,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    x_calibration: Tensor | None = None,
    fpr: float = 0.05,
    steps: int = 100,
    cw_iterations: int = 100,
    cw_eps: float | None = None,
    lam: float = 1.0,
    kappa: float = 2.0,
    batch_size: int = 256,
    seed: int = 0,
) -> SqueezingReport:
    """Detection of PGD, C&W-L2 and a detector-aware attack by feature squeezing.

    Args:
        detector: the detector; its threshold is (re)set by calibration.
        x: ``(N, C, H, W)`` clean test images inside ``threat.bounds``.
        y: ``(N,)`` labels.
        threat: the threat model of PGD and the adaptive attack.
        x_calibration: clean images to choose the threshold on (default: ``x`` itself, which
            makes the clean false-positive rate an in-sample number).
        fpr: the target false-positive rate.
        steps: iterations of PGD and of the adaptive attack.
        cw_iterations: C&W iterations per binary-search step (5 binary-search steps).
        cw_eps: L2 budget of C&W (default: ``threat.eps`` for L2, ``eps·√d`` for L∞, the L2
            radius of the L∞ ball's corners).
        lam: the adaptive attack's score weight ``λ``.
        kappa: the adaptive attack's margin ``κ``.
        batch_size: images per call.
        seed: seed of the attacks.

    Returns:
        A :class:`SqueezingReport` with outcomes for ``"PGD"``, ``"CW-L2"`` and ``"adaptive"``,
        each over the points the model classifies correctly.
    """
    if not isinstance(detector, FeatureSqueezing):
        raise TypeError(f"detector must be a FeatureSqueezing, got {type(detector).__name__}")
    if not isinstance(threat, ThreatModel):
        raise TypeError(f"threat must be a ThreatModel, got {type(threat).__name__}")
    x, y, _ = validate_inputs(x, y, None, threat, min_ndim=4)
    model = detector.model
    with eval_mode(detector):
        detector.calibrate(x if x_calibration is None else x_calibration, fpr=fpr)
        clean_scores = detector.scores(x, batch_size)
        assert detector.threshold is not None
        clean_fpr = float((clean_scores > detector.threshold).double().mean())
        with torch.no_grad():
            logits = torch.cat(
                [model(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
            )
            pred = predict(logits, "clean inputs")
        keep = (pred == y).nonzero().squeeze(1)
        xs, ys = x[keep], y[keep]
        d = int(x[0].numel()) if x.shape[0] else 1
        if cw_eps is None:
            cw_eps = threat.eps if threat.norm == "l2" else threat.eps * math.sqrt(d)
        cw_threat = ThreatModel("l2", cw_eps, threat.bounds)
        attacks: list[tuple[str, EvasionAttack, ThreatModel]] = [
            (f"PGD ({threat.norm})", PGD(threat, steps=steps, seed=seed), threat),
            (
                "CW-L2",
                CarliniWagnerL2(cw_threat, max_iterations=cw_iterations, binary_search_steps=5),
                cw_threat,
            ),
        ]
        report = SqueezingReport(
            squeezers=detector.specs(),
            threshold=detector.threshold,
            target_fpr=fpr,
            clean_fpr=clean_fpr,
            n=int(x.shape[0]),
        )
        for name, attack, attack_threat in attacks:
            adv = (
                run_attack(model, xs, ys, attack, batch_size=batch_size).x_adv
                if xs.shape[0]
                else xs
            )
            report.outcomes.append(
                _outcome(
                    name, False, detector, adv, xs, ys, attack_threat, clean_scores, batch_size
                )
            )
        adv = (
            torch.cat(
                [
                    detector_aware_pgd(
                        detector,
                        xs[i : i + batch_size],
                        ys[i : i + batch_size],
                        threat,
                        steps=steps,
                        lam=lam,
                        kappa=kappa,
                        seed=seed,
                    )
                    for i in range(0, xs.shape[0], batch_size)
                ]
            )
            if xs.shape[0]
            else xs
        )
        report.outcomes.append(
            _outcome(
                f"adaptive PGD (lambda={lam:g}, kappa={kappa:g})",
                True,
                detector,
                adv,
                xs,
                ys,
                threat,
                clean_scores,
                batch_size,
            )
        )
    return report
