"""Robust training: PGD-AT, TRADES, fast AT and noise training as step losses of the trainer.

Guarantees checked: training-time examples stay inside the threat model and raise the loss,
every objective restores the modes of the model's sub-modules, an adversarially trained model
is more robust (and a noise-trained one more accurate under noise) than a clean-trained one, an
interrupted run resumes to bit-identical weights, and bad settings are rejected clearly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from typer.testing import CliRunner

from aisec.cli import app
from aisec.data import load as load_data
from aisec.defenses.training import (
    TRADES,
    FastAdversarialTraining,
    GaussianNoiseTraining,
    PGDAdversarialTraining,
)
from aisec.models import SmallCNN, TrainConfig, accuracy
from aisec.models.checkpoint import load_checkpoint
from aisec.models.training import StepLoss, step_generator, train_classifier
from aisec.threat import ThreatModel
from aisec.zoo import (
    OverfittingMonitor,
    list_models,
    load,
    make_objective,
    model_spec,
    pgd_accuracy,
    train_variant,
    variant_name,
)
from aisec.zoo import catalog as zoo

runner = CliRunner()

EPS = 0.15  # digits are 8×8 with 17 grey levels: a budget at which clean models break

ADVERSARIAL: dict[str, Callable[[], StepLoss]] = {
    "pgd": lambda: PGDAdversarialTraining(eps=EPS, steps=2),
    "trades": lambda: TRADES(eps=EPS, steps=2, beta=6.0),
    "fast": lambda: FastAdversarialTraining(eps=EPS),
}
ALL: dict[str, Callable[[], StepLoss]] = ADVERSARIAL | {
    "noise": lambda: GaussianNoiseTraining(sigma=0.5)
}


def _model(seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(1, 10, widths=(16, 32), hidden=64)


@pytest.fixture(scope="module")
def digits() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    train = load_data("digits", "train", n=400, seed=0)
    test = load_data("digits", "test").subset(200, seed=0)
    return train.images, train.labels, test.images, test.labels


@pytest.fixture(scope="module")
def clean_model(digits: tuple[Tensor, Tensor, Tensor, Tensor]) -> nn.Module:
    x, y, _, _ = digits
    model = _model()
    train_classifier(model, x, y, TrainConfig(epochs=4, batch_size=32, lr=1e-2), progress=False)
    return model


def _perturb(objective: StepLoss, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    generator = torch.Generator().manual_seed(0)
    if isinstance(objective, GaussianNoiseTraining):
        return objective.perturb(x, generator)
    if isinstance(objective, TRADES):
        return objective.perturb(model, x, generator)
    assert isinstance(objective, (PGDAdversarialTraining, FastAdversarialTraining))
    return objective.perturb(model, x, y, generator)


@pytest.mark.parametrize("method", sorted(ADVERSARIAL))
def test_training_examples_are_inside_the_ball_and_raise_the_loss(
    method: str, clean_model: nn.Module, digits: tuple[Tensor, Tensor, Tensor, Tensor]
) -> None:
    _, _, x, y = digits
    objective = ADVERSARIAL[method]()
    x_adv = _perturb(objective, clean_model, x, y)
    assert bool(ThreatModel("linf", EPS).contains(x_adv, x).all())
    assert float((x_adv - x).abs().amax()) > EPS / 2  # it moved, not just the random start
    with torch.no_grad():
        logits, adv_logits = clean_model(x), clean_model(x_adv)
    if isinstance(objective, TRADES):  # it ascends KL(f(x) || f(x')), which is 0 at x' = x
        kl = F.kl_div(F.log_softmax(adv_logits, 1), F.softmax(logits, 1), reduction="batchmean")
        assert float(kl) > 0.1
    else:
        assert float(F.cross_entropy(adv_logits, y)) > float(F.cross_entropy(logits, y)) + 0.5


@pytest.mark.parametrize("method", sorted(ALL))
@pytest.mark.parametrize("training", [True, False])
def test_objectives_restore_every_module_mode(
    method: str, training: bool, digits: tuple[Tensor, Tensor, Tensor, Tensor]
) -> None:
    x, y = digits[0][:16], digits[1][:16]
    model = _model().train(training)
    model.head.train(not training)  # a mixed state must come back as it was
    before = [m.training for m in model.modules()]
    loss, logits = ALL[method]()(model, x, y, torch.Generator().manual_seed(0))
    assert [m.training for m in model.modules()] == before
    assert loss.ndim == 0 and loss.requires_grad and logits.shape == (16, 10)


def test_objectives_draw_randomness_only_from_the_generator(
    digits: tuple[Tensor, Tensor, Tensor, Tensor],
) -> None:
    x, y = digits[0][:16], digits[1][:16]
    for make in ALL.values():
        losses: list[Tensor] = []
        for _ in range(2):
            torch.manual_seed(len(losses))  # the global RNG must not matter
            loss, _ = make()(_model().eval(), x, y, step_generator(3, 1, 2, x.device))
            losses.append(loss)
        assert torch.equal(losses[0], losses[1])


@pytest.mark.parametrize("method", sorted(ADVERSARIAL))
def test_adversarial_training_beats_clean_training_under_pgd(
    method: str, clean_model: nn.Module, digits: tuple[Tensor, Tensor, Tensor, Tensor]
) -> None:
    x, y, x_test, y_test = digits
    robust = _model()
    train_classifier(
        robust,
        x,
        y,
        TrainConfig(epochs=4, batch_size=32, lr=1e-2),
        step_loss=ADVERSARIAL[method](),
        progress=False,
    )
    clean_pgd = pgd_accuracy(clean_model, x_test, y_test, EPS)
    robust_pgd = pgd_accuracy(robust, x_test, y_test, EPS)
    assert robust_pgd > clean_pgd + 0.15, (method, clean_pgd, robust_pgd)
    assert not robust.training


def test_noise_training_beats_clean_training_under_noise(
    clean_model: nn.Module, digits: tuple[Tensor, Tensor, Tensor, Tensor]
) -> None:
    x, y, x_test, y_test = digits
    noisy = _model()
    objective = GaussianNoiseTraining(sigma=0.5)
    config = TrainConfig(epochs=4, batch_size=32, lr=1e-2)
    train_classifier(noisy, x, y, config, step_loss=objective, progress=False)
    x_noisy = objective.perturb(x_test.repeat(4, 1, 1, 1), torch.Generator().manual_seed(1))
    y_noisy = y_test.repeat(4)
    assert accuracy(noisy, x_noisy, y_noisy) > accuracy(clean_model, x_noisy, y_noisy) + 0.1


def test_overfitting_monitor_warns_when_pgd_accuracy_collapses(
    clean_model: nn.Module, digits: tuple[Tensor, Tensor, Tensor, Tensor]
) -> None:
    _, _, x, y = digits
    zeros = y == 0
    linear = nn.Linear(64, 10)  # always says 0, whatever PGD does
    nn.init.zeros_(linear.weight)
    with torch.no_grad():
        linear.bias.copy_(torch.eye(10)[0])
    constant = nn.Sequential(nn.Flatten(), linear)
    monitor = OverfittingMonitor(x[zeros], y[zeros], EPS)
    monitor(constant, 0, {})
    with pytest.warns(RuntimeWarning, match="catastrophic overfitting after epoch 1"):
        monitor(clean_model, 1, {})
    assert monitor.history[0] == 1.0 and monitor.history[1] < 0.5


@pytest.mark.parametrize("method", ["pgd", "trades", "fast", "noise"])
def test_interrupted_training_resumes_to_identical_weights(
    method: str, tmp_path: Path, digits: tuple[Tensor, Tensor, Tensor, Tensor]
) -> None:
    x, y = digits[0][:192], digits[1][:192]
    config = TrainConfig(epochs=3, batch_size=64, seed=5)
    reference = _model()
    train_classifier(reference, x, y, config, step_loss=ALL[method](), progress=False)

    def interrupt(epoch: int, metrics: dict[str, float]) -> None:
        if epoch == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_classifier(
            _model(),
            x,
            y,
            config,
            step_loss=ALL[method](),
            checkpoint_dir=tmp_path,
            on_epoch_end=interrupt,
            progress=False,
        )
    resumed = _model(seed=99)  # a fresh process: other initial weights, other global RNG
    result = train_classifier(
        resumed, x, y, config, step_loss=ALL[method](), checkpoint_dir=tmp_path, progress=False
    )
    assert result.resumed_from_epoch == 1
    for (key, expected), actual in zip(
        reference.state_dict().items(), resumed.state_dict().values(), strict=True
    ):
        assert torch.equal(expected, actual), key


def test_checkpoint_of_another_objective_is_not_resumed(
    tmp_path: Path, digits: tuple[Tensor, Tensor, Tensor, Tensor]
) -> None:
    x, y = digits[0][:64], digits[1][:64]
    config = TrainConfig(epochs=1, batch_size=64)
    for eps, resumed in ((0.1, 0), (0.1, 1), (0.2, 0)):
        result = train_classifier(
            _model(),
            x,
            y,
            config,
            step_loss=FastAdversarialTraining(eps=eps),
            checkpoint_dir=tmp_path,
            progress=False,
        )
        assert result.resumed_from_epoch == resumed


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: PGDAdversarialTraining(eps=0.0), ValueError, "eps must be > 0"),
        (lambda: PGDAdversarialTraining(eps=-0.1), ValueError, "eps"),
        (
            lambda: PGDAdversarialTraining(eps="8/0"),  # type: ignore[arg-type]
            ValueError,
            "divides by zero",
        ),
        (lambda: PGDAdversarialTraining(steps=0), ValueError, "steps must be >= 1"),
        (
            lambda: PGDAdversarialTraining(steps=2.5),  # type: ignore[arg-type]
            TypeError,
            "steps must be an int",
        ),
        (
            lambda: PGDAdversarialTraining(attack_mode="test"),  # type: ignore[arg-type]
            ValueError,
            "attack_mode",
        ),
        (lambda: FastAdversarialTraining(step_size=-1.0), ValueError, "step_size"),
        (lambda: TRADES(beta=0.0), ValueError, "beta must be"),
        (lambda: TRADES(bounds=(1.0, 0.0)), ValueError, "bounds"),
        (lambda: GaussianNoiseTraining(sigma=0.0), ValueError, "sigma must be"),
        (lambda: GaussianNoiseTraining(sigma=float("nan")), ValueError, "sigma must be"),
        (lambda: make_objective("mixup"), ValueError, "unknown training method"),
        (lambda: make_objective("noise", eps=0.1), ValueError, "takes"),
        (lambda: make_objective("fast", steps=3), ValueError, "takes"),
        (lambda: train_variant("efficientnet-lite0", "pgd"), ValueError, "cannot be a base"),
        (lambda: train_variant("digits-cnn", "noise", epochs=0), ValueError, "epochs"),
        (lambda: load("digits-cnn+pgd-eps0p1-steps3"), ValueError, "aisec train digits-cnn"),
        (
            lambda: zoo.train_variant("digits-cnn+x.y", "digits-cnn", GaussianNoiseTraining()),
            ValueError,
            "no '.'",
        ),
        (
            lambda: zoo.train_variant("digits-cnn+x", "signs-cnn", GaussianNoiseTraining()),
            ValueError,
            "must start with",
        ),
    ],
)
def test_bad_settings_are_clear_errors(
    make: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        make()


def test_zoo_entries_record_their_method() -> None:
    at = model_spec("signs-cnn-at")
    assert at.variant_of == "signs-cnn" and at.objective is not None
    objective = at.objective()
    assert isinstance(objective, PGDAdversarialTraining) and objective.eps == 8 / 255
    for name in ("signs-cnn-noise", "digits-cnn-noise"):
        spec = model_spec(name)
        assert spec.objective is not None and spec.objective() == GaussianNoiseTraining(0.25)
    names = {status.name for status in list_models()}
    assert {"signs-cnn-at", "signs-cnn-noise", "digits-cnn-noise"} <= names
    assert variant_name("signs-cnn", make_objective("pgd", eps="4/255", steps=7)) == (
        "signs-cnn+pgd-eps0p01569-steps7"
    )


def test_settings_of_a_zoo_entry_train_that_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    trained: list[str] = []

    def fake_train(name: str, *, progress: bool = True) -> tuple[nn.Module, dict[str, object]]:
        trained.append(name)
        return _model(), {}

    monkeypatch.setattr(zoo, "train", fake_train)
    assert train_variant("signs-cnn", "pgd", eps="8/255").name == "signs-cnn-at"
    assert train_variant("digits-cnn", "noise").name == "digits-cnn-noise"
    assert trained == ["signs-cnn-at", "digits-cnn-noise"]


def test_derived_variant_is_cached_loaded_and_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AISEC_CACHE", str(tmp_path))
    result = runner.invoke(
        app, ["train", "digits-cnn", "--adv", "noise", "--sigma", "0.5", "--epochs", "1"]
    )
    assert result.exit_code == 0, result.output
    name = "digits-cnn+noise-sigma0p5-epochs1"
    assert name in result.output
    _, meta = load_checkpoint(tmp_path / "models" / name)
    model = load(name)
    test = load_data("digits", "test")
    assert not model.training and accuracy(model, test.images, test.labels) == pytest.approx(
        meta["test_accuracy"]
    )
    assert meta["training"]["method"] == "noise" and meta["training"]["sigma"] == 0.5
    assert meta["variant_of"] == "digits-cnn"
    assert model_spec(name).dataset == "digits"
    status = next(s for s in list_models() if s.name == name)
    assert status.cached and status.test_accuracy == meta["test_accuracy"] > 0.3


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["train", "digits-cnn", "--adv", "mixup"], "unknown training method"),
        (["train", "digits-cnn", "--eps", "8/255"], "need --adv"),
        (["train", "digits-cnn", "--adv", "noise", "--eps", "0.1"], "takes"),
        (["train", "digits-cnn", "--adv", "pgd", "--eps", "abc"], "fraction like '8/255'"),
        (["train", "digits-cnn", "--adv", "fast", "--eps", "-1"], "eps"),
        (["train", "efficientnet-lite0", "--adv", "pgd"], "cannot be a base"),
    ],
)
def test_cli_rejects_bad_options(args: list[str], match: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert match in result.output
