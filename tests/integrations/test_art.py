"""ART adapters: configuration, numerical cross-checks against aisec, the contract, bad input."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from aisec.attacks import FGSM
from aisec.evaluate import evaluate_robustness
from aisec.experiments.names import evasion_attack as make_attack
from aisec.integrations._common import import_optional
from aisec.threat import ThreatModel

art = pytest.importorskip("art", reason='needs the art extra: pip install "aisec[art]"')
from art.attacks.evasion import (  # noqa: E402
    DeepFool,
    FastGradientMethod,
    ProjectedGradientDescent,
)
from art.defences.preprocessor import FeatureSqueezing  # noqa: E402
from art.defences.preprocessor.preprocessor import PreprocessorPyTorch  # noqa: E402

from aisec.defenses.preprocess import BitDepthReduction  # noqa: E402
from aisec.evaluate import evaluate_defense  # noqa: E402
from aisec.integrations.art import (  # noqa: E402
    ArtAttack,
    ArtPreprocessedModel,
    art_defense,
    art_preprocessor,
    to_art,
)

if TYPE_CHECKING:
    from conftest import Digits

LINF = ThreatModel("linf", 0.1)


class _Halve(PreprocessorPyTorch):  # type: ignore[misc]
    """A differentiable PyTorch preprocessor (ART's own ones need kornia)."""

    def forward(self, x: torch.Tensor, y: object = None) -> tuple[torch.Tensor, object]:
        return 0.5 * x, y


def test_to_art_infers_a_correct_classifier(digits: Digits) -> None:
    classifier = to_art(digits.model, sample=digits.x[:4])
    assert classifier.nb_classes == 10
    assert tuple(classifier.input_shape) == (1, 8, 8)
    assert tuple(float(v) for v in classifier.clip_values) == (0.0, 1.0)
    assert classifier.channels_first
    assert isinstance(classifier._loss, torch.nn.CrossEntropyLoss)
    assert classifier._device == digits.x.device
    logits = classifier.predict(digits.x[:16].cpu().numpy())
    with torch.no_grad():
        expected = digits.model(digits.x[:16]).cpu().numpy()
    np.testing.assert_allclose(logits, expected, rtol=1e-5, atol=1e-5)
    explicit = to_art(digits.model, input_shape=(1, 8, 8), num_classes=10, clip_values=(0, 2))
    assert tuple(float(v) for v in explicit.clip_values) == (0.0, 2.0)
    with pytest.raises(ValueError, match="input_shape and num_classes"):
        to_art(digits.model)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_art_fgsm_equals_aisec_fgsm(digits: Digits, norm: str) -> None:
    eps = 0.1 if norm == "linf" else 0.5
    threat = ThreatModel(norm, eps)  # type: ignore[arg-type]
    ours = FGSM(threat)(digits.model, digits.x, digits.y)
    classifier = to_art(digits.model, sample=digits.x)
    art_norm = np.inf if norm == "linf" else 2
    raw = FastGradientMethod(classifier, norm=art_norm, eps=eps).generate(
        digits.x.cpu().numpy(), y=digits.y.cpu().numpy()
    )
    raw_t = torch.as_tensor(raw, device=digits.x.device)
    attacked = ours.clean_pred == ours.y  # aisec leaves misclassified points unchanged
    assert float((raw_t[attacked] - ours.x_adv[attacked]).abs().max()) <= 1e-6
    for p in digits.model.parameters():  # the raw library run above left gradients
        p.grad = None
    through = ArtAttack(FastGradientMethod, threat)(digits.model, digits.x, digits.y)
    assert float((through.x_adv - ours.x_adv).abs().max()) <= 1e-6
    assert torch.equal(through.adv_pred, ours.adv_pred)
    assert through.attack == "art:FastGradientMethod"
    assert (through.forwards, through.backwards) == (3, 1)
    params = list(digits.model.parameters())
    assert all(p.requires_grad and p.grad is None for p in params)  # no side effect on the model


def test_art_attack_reports_arts_own_robust_accuracy(digits: Digits) -> None:
    x, y = digits.x[:120], digits.y[:120]
    attack = ArtAttack(ProjectedGradientDescent, LINF, max_iter=10, eps_step=0.02)
    result = attack(digits.model, x, y)
    classifier = to_art(digits.model, sample=x)
    art_pgd = ProjectedGradientDescent(
        classifier, eps=0.1, eps_step=0.02, max_iter=10, batch_size=len(y), verbose=False
    )
    x_art = art_pgd.generate(x.cpu().numpy(), y=y.cpu().numpy())
    art_accuracy = float((classifier.predict(x_art).argmax(1) == y.cpu().numpy()).mean())
    assert result.robust_accuracy == pytest.approx(art_accuracy, abs=1e-12)
    assert bool(LINF.contains(result.x_adv, x).all())
    assert result.backwards == 10


def test_art_pgd_respects_the_threat_model(digits: Digits) -> None:
    x, y = digits.x[:100], digits.y[:100]
    attack = ArtAttack("ProjectedGradientDescent", LINF, max_iter=5, num_random_init=1, seed=3)
    assert attack.params["eps_step"] == pytest.approx(2.5 * 0.1 / 5)
    first = attack(digits.model, x, y)
    again = attack(digits.model, x, y)
    assert torch.equal(first.x_adv, again.x_adv)  # seeded random start
    assert bool(first.threat.contains(first.x_adv, x).all())
    assert float(first.norms.max()) <= 0.1 + 1e-6
    assert first.robust_accuracy is not None and first.clean_accuracy is not None
    assert first.robust_accuracy < first.clean_accuracy


def test_unbounded_art_attack_is_projected_and_reported(digits: Digits) -> None:
    x, y = digits.x[:40], digits.y[:40]
    threat = ThreatModel("l2", 0.3)
    result = ArtAttack(DeepFool, threat, max_iter=10, nb_grads=3)(digits.model, x, y)
    assert bool(threat.contains(result.x_adv, x).all())
    assert float(result.extras["unprojected_norms"].max()) > 0.3  # DeepFool went further
    assert ArtAttack(DeepFool, threat).uses_gradients  # a white-box attack for the sanity checks


def test_targeted_art_attack(digits: Digits) -> None:
    x, y = digits.x[:60], digits.y[:60]
    targets = (y + 1) % 10
    attack = ArtAttack(ProjectedGradientDescent, ThreatModel("linf", 0.3), max_iter=20)
    result = attack(digits.model, x, y, targets)
    assert result.targeted and result.success_rate is not None and result.success_rate > 0.5
    assert bool(result.success.eq(result.adv_pred == targets).all())


def test_art_attack_runs_in_evaluate_robustness(digits: Digits) -> None:
    x, y = digits.x[:100], digits.y[:100]
    attacks = [
        ArtAttack(FastGradientMethod, LINF),
        ArtAttack(ProjectedGradientDescent, LINF, max_iter=10),
    ]
    report = evaluate_robustness(digits.model, x, y, LINF, attacks, warn=False)
    assert [s.attack for s in report.stages] == [
        "art:FastGradientMethod",
        "art:ProjectedGradientDescent",
    ]
    assert report.robust_accuracy <= report.clean_accuracy
    assert bool(LINF.contains(report.x_adv, x).all())


def test_make_attack_resolves_art_names() -> None:
    attack = make_attack("art:ProjectedGradientDescent", LINF, steps=7)
    assert isinstance(attack, ArtAttack)
    assert attack.params["max_iter"] == 7 and attack.params["eps"] == 0.1
    assert attack.threat == LINF
    with pytest.raises(ValueError, match="ProjectedGradientDescent"):
        make_attack("art:ProjectedGradientDescnt", LINF)
    with pytest.raises(ValueError, match="unknown attack"):
        make_attack("cleverhans:FGSM", LINF)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="estimator of type"):
        ArtAttack("DecisionTreeAttack", LINF)
    with pytest.raises(TypeError, match="no parameter"):
        ArtAttack(FastGradientMethod, LINF, steps=3)
    with pytest.raises(ValueError, match="conflicts"):
        ArtAttack(FastGradientMethod, LINF, eps=0.2)
    with pytest.raises(ValueError, match="conflicts"):
        ArtAttack(FastGradientMethod, LINF, norm=2)
    with pytest.raises(ValueError, match="threat model"):
        ArtAttack(FastGradientMethod)
    with pytest.raises(TypeError, match="ART evasion attack"):
        ArtAttack(FGSM, LINF)  # type: ignore[arg-type]
    inferred = ArtAttack(FastGradientMethod, eps=0.5, norm=2)
    assert inferred.threat == ThreatModel("l2", 0.5)


def test_missing_art_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "art" or m.startswith("art.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "aisec\[art\]"'):
        import_optional("art.attacks.evasion", extra="art", package="IBM ART")
    with pytest.raises(ImportError, match=r'pip install "aisec\[art\]"'):
        ArtAttack("FastGradientMethod", LINF)
    with pytest.raises(ValueError, match=r'pip install "aisec\[art\]"'):
        make_attack("art:FastGradientMethod", LINF)


def test_art_preprocessor_defense_uses_bpda(digits: Digits) -> None:
    x, y = digits.x[:32], digits.y[:32]
    squeeze = FeatureSqueezing(clip_values=(0.0, 1.0), bit_depth=2)
    defended = ArtPreprocessedModel(digits.model, squeeze)
    assert defended.bpda
    squeezed = torch.as_tensor(squeeze(x.cpu().numpy())[0], device=x.device).to(x.dtype)
    x_leaf = x.clone().requires_grad_(True)
    F.cross_entropy(defended(x_leaf), y).backward()
    s_leaf = squeezed.clone().requires_grad_(True)
    F.cross_entropy(digits.model(s_leaf), y).backward()
    assert x_leaf.grad is not None and s_leaf.grad is not None
    torch.testing.assert_close(x_leaf.grad, s_leaf.grad)  # identity BPDA: grad at f(x)
    result = FGSM(LINF)(defended, x, y)
    assert bool(LINF.contains(result.x_adv, x).all())
    by_name = ArtPreprocessedModel(digits.model, "SpatialSmoothing", window_size=3)
    assert by_name.bpda and by_name(x).shape == (32, 10)
    exact = ArtPreprocessedModel(digits.model, _Halve(device_type="cpu"))
    assert not exact.bpda
    x_leaf2 = x.clone().requires_grad_(True)
    F.cross_entropy(exact(x_leaf2), y).backward()
    half = (0.5 * x).requires_grad_(True)
    F.cross_entropy(digits.model(half), y).backward()
    assert x_leaf2.grad is not None and half.grad is not None
    torch.testing.assert_close(x_leaf2.grad, 0.5 * half.grad)  # the exact chain rule
    with pytest.raises(ValueError, match="no preprocessor"):
        art_preprocessor("JpegCompresion")


def test_art_preprocessors_run_in_the_defense_evaluation(digits: Digits) -> None:
    x, y = digits.x[:48], digits.y[:48]
    squeeze = art_defense("FeatureSqueezing", bit_depth=3)
    assert not squeeze.differentiable and squeeze.spec() == "art:FeatureSqueezing"
    # ART's squeezing is aisec's bit-depth reduction, pixel for pixel.
    torch.testing.assert_close(squeeze(x), BitDepthReduction(bits=3)(x), atol=1e-6, rtol=0)
    x_leaf = x.clone().requires_grad_(True)
    F.cross_entropy(digits.model(squeeze.with_bpda()(x_leaf)), y).backward()
    assert x_leaf.grad is not None and float(x_leaf.grad.abs().sum()) > 0  # BPDA path
    report = evaluate_defense(
        digits.model, [squeeze], x, y, LINF, steps=10, eot_samples=1, square_queries=0
    )
    assert report.defenses == ["art:FeatureSqueezing"] and not report.differentiable
    assert report.adaptive_accuracy <= report.non_adaptive_accuracy <= report.clean_accuracy
    assert report.adaptive_accuracy < report.clean_accuracy
    assert art_defense(_Halve(device_type="cpu")).differentiable
    with pytest.raises(TypeError, match="ART Preprocessor"):
        art_defense(BitDepthReduction(bits=3))
