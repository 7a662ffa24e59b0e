"""Certified robustness: randomized smoothing (Cohen, Rosenfeld & Kolter, ICML 2019).

:class:`RandomizedSmoothing` wraps any base classifier; its ``predict`` (PREDICT) and
``certify`` (CERTIFY) return, per input, a class or an explicit abstention (``-1`` and an
``abstained`` mask). A certificate says: with probability at least ``1 − α`` over the noise,
the smoothed classifier returns the same class on every point within the certified L2 radius.
:func:`certified_accuracy_curve` turns certificates into the certified accuracy against L2
radius curve. Evaluating a whole test set is :func:`aisec.evaluate.certify.evaluate_smoothing`
(by zoo name: :mod:`aisec.experiments.certify`); the plot is
:func:`aisec.report.figures.plot_certified_accuracy`.

Example::

    from aisec.defenses.certify import RandomizedSmoothing

    smoothed = RandomizedSmoothing(model, sigma=0.25)
    cert = smoothed.certify(x, n0=100, n=1000, alpha=0.001)
    cert.prediction, cert.radius, cert.abstained
"""

from __future__ import annotations

from aisec.defenses.certify.curve import (
    CertifiedAccuracyCurve,
    certified_accuracy_curve,
    max_certifiable_radius,
    radius_grid,
)
from aisec.defenses.certify.smoothing import (
    ABSTAIN,
    Certificate,
    NoisyEnsemble,
    RandomizedSmoothing,
    SmoothedPrediction,
    binomial_p_value,
    clopper_pearson_lower,
)

__all__ = [
    "ABSTAIN",
    "Certificate",
    "CertifiedAccuracyCurve",
    "NoisyEnsemble",
    "RandomizedSmoothing",
    "SmoothedPrediction",
    "binomial_p_value",
    "certified_accuracy_curve",
    "clopper_pearson_lower",
    "max_certifiable_radius",
    "radius_grid",
]
