"""Feature squeezing: the score, the threshold, ROC AUC, and an adaptive attack that evades it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from aisec.defenses.detect import FeatureSqueezing, roc_auc
from aisec.defenses.preprocess import BitDepthReduction, MedianFilter
from aisec.evaluate import SqueezingReport, detector_aware_pgd, evaluate_feature_squeezing
from aisec.threat import ThreatModel


def _fixtures() -> Any:
    """The digits-CNN helpers of ``tests/attacks/conftest.py`` (loaded as in tests/evaluate)."""
    name = "_aisec_attack_fixtures"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "attacks" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def digits() -> Any:
    return _fixtures().train_digits_cnn()


@pytest.fixture(scope="module")
def report(digits: Any) -> SqueezingReport:
    detector = FeatureSqueezing(digits.model, [BitDepthReduction(2)])
    return evaluate_feature_squeezing(
        detector,
        digits.x[:60],
        digits.y[:60],
        ThreatModel("linf", 0.2),
        x_calibration=digits.x[100:300],
        fpr=0.05,
        steps=20,
        cw_iterations=20,
    )


def test_scores_are_l1_distances_of_softmaxes(digits: Any) -> None:
    detector = FeatureSqueezing(digits.model)
    assert detector.specs() == ["bits:4", "median:2"]
    x = digits.x[:10]
    scores = detector.scores(x)
    assert scores.shape == (10,) and (scores >= 0).all() and (scores <= 2).all()
    with torch.no_grad():
        p = digits.model(x).softmax(dim=1)
        expected = torch.stack(
            [
                (p - digits.model(s(x)).softmax(dim=1)).abs().sum(dim=1)
                for s in (BitDepthReduction(4), MedianFilter(2))
            ]
        ).amax(dim=0)
    assert torch.allclose(scores, expected, atol=1e-6)
    # Images already at 8 bits are unchanged by an 8-bit squeezer: score 0.
    quantized = (x * 255).round() / 255
    assert FeatureSqueezing(digits.model, [BitDepthReduction(8)]).scores(quantized).max() < 1e-6


def test_score_is_differentiable_through_the_squeezers(digits: Any) -> None:
    detector = FeatureSqueezing(digits.model, [BitDepthReduction(2)])
    x = digits.x[:4].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(detector.score(x).sum(), x)
    assert (grad.flatten(1).abs().amax(dim=1) > 0).all()


def test_calibration_meets_the_false_positive_rate(digits: Any) -> None:
    detector = FeatureSqueezing(digits.model)
    with pytest.raises(ValueError, match="calibrate"):
        detector.detect(digits.x[:2])
    clean = digits.x[:200]
    threshold = detector.calibrate(clean, fpr=0.1)
    assert detector.threshold == threshold
    assert float(detector.detect(clean).double().mean()) <= 0.1


def test_roc_auc_matches_sklearn() -> None:
    generator = torch.Generator().manual_seed(0)
    neg = (torch.rand(50, generator=generator) * 10).round()  # ties
    pos = (torch.rand(40, generator=generator) * 10 + 3).round()
    labels = [0] * 50 + [1] * 40
    expected = roc_auc_score(labels, torch.cat([neg, pos]).numpy())
    assert roc_auc(neg, pos) == pytest.approx(expected)
    assert roc_auc(torch.zeros(3), torch.ones(2)) == 1.0
    assert roc_auc(torch.ones(3), torch.zeros(2)) == 0.0
    assert roc_auc(torch.ones(3), torch.ones(2)) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        roc_auc(torch.zeros(0), torch.ones(2))
    with pytest.raises(ValueError, match="NaN"):
        roc_auc(torch.tensor([float("nan")]), torch.ones(2))


def test_detects_oblivious_attacks(report: SqueezingReport) -> None:
    assert report.squeezers == ["bits:2"] and report.target_fpr == 0.05
    pgd, cw = report.outcome("PGD"), report.outcome("CW-L2")
    for outcome in (pgd, cw):
        assert outcome.fooled > 0 and outcome.auc is not None
        assert outcome.detection_rate is not None
        assert 0.0 <= outcome.auc <= 1.0
    # Squeezing separates oblivious PGD examples from clean images far better than chance.
    assert pgd.auc is not None and pgd.auc > 0.75
    assert pgd.detection_rate is not None and pgd.detection_rate > 0.5


def test_adaptive_attack_evades_the_detector(report: SqueezingReport) -> None:
    pgd, adaptive = report.outcome("PGD"), report.outcome("adaptive")
    assert adaptive.adaptive and not pgd.adaptive
    assert adaptive.detection_rate is not None and pgd.detection_rate is not None
    assert adaptive.detection_rate < pgd.detection_rate - 0.3
    assert adaptive.fool_and_evade > pgd.fool_and_evade + 0.3
    record = report.to_dict()
    assert {"threshold", "target_fpr", "clean_fpr", "outcomes"} <= set(record)
    assert {"auc", "detection_rate", "fool_and_evade"} <= set(record["outcomes"][0])


def test_detector_aware_pgd_stays_in_the_threat_model(digits: Any) -> None:
    threat = ThreatModel("l2", 0.5)
    detector = FeatureSqueezing(digits.model, [BitDepthReduction(3)])
    x, y = digits.x[:8], digits.y[:8]
    x_adv = detector_aware_pgd(detector, x, y, threat, steps=3)
    assert x_adv.shape == x.shape and threat.contains(x_adv, x).all()


def test_bad_input(digits: Any) -> None:
    with pytest.raises(ValueError, match="at least one squeezer"):
        FeatureSqueezing(digits.model, [])
    with pytest.raises(TypeError, match="Preprocessors"):
        FeatureSqueezing(digits.model, [nn.Identity()])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"nn\.Module"):
        FeatureSqueezing(lambda x: x)  # type: ignore[arg-type]
    detector = FeatureSqueezing(digits.model)
    for fpr in (0.0, 1.0, "0.1"):
        with pytest.raises(ValueError, match="fpr"):
            detector.calibrate(digits.x[:10], fpr=fpr)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        detector.scores(digits.x[0])
    with pytest.raises(ValueError, match="linf and l2"):
        detector_aware_pgd(detector, digits.x[:2], digits.y[:2], ThreatModel("l1", 1.0))
    with pytest.raises(TypeError, match="FeatureSqueezing"):
        evaluate_feature_squeezing(
            digits.model, digits.x[:2], digits.y[:2], ThreatModel("linf", 0.1)
        )
