"""Bad input to attacks: each a clear ValueError/TypeError; an empty batch gives an empty result."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from torch import Tensor, nn

from aisec.attacks import (
    APGD,
    FGSM,
    PGD,
    CarliniWagnerL2,
    EvasionAttack,
    Restarts,
    SquareAttack,
)
from aisec.threat import ThreatModel

if TYPE_CHECKING:
    from conftest import Digits

pytestmark = pytest.mark.usefixtures("single_thread")

LINF = ThreatModel("linf", 0.1)
L2 = ThreatModel("l2", 1.0)

# One cheap instance of every attack class: validation lives in the shared base class.
ATTACKS: list[Callable[[], EvasionAttack]] = [
    lambda: FGSM(LINF),
    lambda: PGD(LINF, steps=2),
    lambda: APGD(LINF, steps=2),
    lambda: SquareAttack(LINF, n_queries=3),
    lambda: CarliniWagnerL2(L2, max_iterations=2, binary_search_steps=1),
]
IDS = ["FGSM", "PGD", "APGD", "Square", "CW-L2"]


@pytest.fixture(params=ATTACKS, ids=IDS)
def attack(request: pytest.FixtureRequest) -> EvasionAttack:
    factory: Callable[[], EvasionAttack] = request.param
    return factory()


def _batch(digits: Digits, n: int = 4) -> tuple[Tensor, Tensor]:
    return digits.x[:n].clone(), digits.y[:n].clone()


def _with_nan(x: Tensor) -> Tensor:
    x = x.clone()
    x[0, 0, 0, 0] = float("nan")
    return x


def _with_inf(x: Tensor) -> Tensor:
    x = x.clone()
    x[1, 0, 2, 2] = float("inf")
    return x


@pytest.mark.parametrize(
    ("mutate", "error", "match"),
    [
        (lambda x: x.tolist(), TypeError, "x must be a torch tensor"),
        (lambda x: (x * 255).long(), TypeError, "floating-point"),
        (lambda x: x.reshape(-1), ValueError, "shape"),
        (_with_nan, ValueError, "NaN or infinite"),
        (_with_inf, ValueError, "NaN or infinite"),
        (lambda x: x * 2.0 + 0.5, ValueError, "outside the threat model's bounds"),
        (lambda x: x - 0.5, ValueError, "outside the threat model's bounds"),
    ],
    ids=["list", "int", "flat", "nan", "inf", "above", "below"],
)
def test_bad_x(
    attack: EvasionAttack,
    digits: Digits,
    mutate: Callable[[Tensor], object],
    error: type[Exception],
    match: str,
) -> None:
    x, y = _batch(digits)
    with pytest.raises(error, match=match):
        attack(digits.model, mutate(x), y)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make_y", "error", "match"),
    [
        (lambda y: y.tolist(), TypeError, "y must be a torch tensor"),
        (lambda y: y.float(), TypeError, "integer"),
        (lambda y: y[:-1], ValueError, "shape"),
        (lambda y: y[:, None], ValueError, "shape"),
        (lambda y: y - 10, ValueError, ">= 0"),
        (lambda y: y + 10, ValueError, "only 10 classes"),
    ],
    ids=["list", "float", "short", "2d", "negative", "too-large"],
)
def test_bad_labels(
    attack: EvasionAttack,
    digits: Digits,
    make_y: Callable[[Tensor], object],
    error: type[Exception],
    match: str,
) -> None:
    x, y = _batch(digits)
    with pytest.raises(error, match=match):
        attack(digits.model, x, make_y(y))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make_targets", "error", "match"),
    [
        (lambda y: y.clone(), ValueError, "differ from the true labels"),
        (lambda y: ((y + 1) % 10)[:-1], ValueError, "shape"),
        (lambda y: y + 20, ValueError, "only 10 classes"),
        (lambda y: ((y + 1) % 10).double(), TypeError, "integer"),
    ],
    ids=["equal", "short", "too-large", "float"],
)
def test_bad_targets(
    attack: EvasionAttack,
    digits: Digits,
    make_targets: Callable[[Tensor], Tensor],
    error: type[Exception],
    match: str,
) -> None:
    x, y = _batch(digits)
    with pytest.raises(error, match=match):
        attack(digits.model, x, y, make_targets(y))


class _Reshaped(nn.Module):
    def __init__(self, model: nn.Module, reshape: Callable[[Tensor], object]) -> None:
        super().__init__()
        self.model = model
        self.reshape = reshape

    def forward(self, x: Tensor) -> object:
        return self.reshape(self.model(x))


@pytest.mark.parametrize(
    ("reshape", "error"),
    [
        (lambda z: z.argmax(dim=1), ValueError),  # (N,)
        (lambda z: z[:, :, None], ValueError),  # (N, K, 1)
        (lambda z: z[:-1], ValueError),  # wrong N
        (lambda z: z[:, :1], ValueError),  # one class
        (lambda z: z.tolist(), TypeError),  # not a tensor
    ],
    ids=["labels", "3d", "wrong-n", "one-class", "list"],
)
def test_bad_model_output(
    attack: EvasionAttack,
    digits: Digits,
    reshape: Callable[[Tensor], object],
    error: type[Exception],
) -> None:
    x, y = _batch(digits)
    model = _Reshaped(copy.deepcopy(digits.model), reshape)
    model.train()
    with pytest.raises(error, match="model must return"):
        attack(model, x, y)
    assert model.training and model.model.training  # restored even after the error


def test_model_must_be_callable(attack: EvasionAttack, digits: Digits) -> None:
    x, y = _batch(digits)
    with pytest.raises(TypeError, match="callable"):
        attack("signs-cnn", x, y)  # type: ignore[arg-type]


def test_empty_batch_gives_an_empty_result(attack: EvasionAttack, digits: Digits) -> None:
    calls: list[int] = []

    def model(x: Tensor) -> Tensor:
        calls.append(1)
        return digits.model(x)  # type: ignore[no-any-return]

    x, y = digits.x[:0], digits.y[:0]
    result = attack(model, x, y)
    assert result.x_adv.shape == (0, 1, 8, 8)
    assert result.success.shape == result.norms.shape == (0,)
    assert result.forwards == result.backwards == 0 and not calls
    assert result.robust_accuracy is None
    assert result.summary()["n"] == 0


def test_square_needs_images(digits: Digits) -> None:
    x, y = _batch(digits)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        SquareAttack(LINF, n_queries=3)(digits.model, x.flatten(1), y)


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: SquareAttack(L2), ValueError),  # Square is L∞ only
        (lambda: CarliniWagnerL2(LINF), ValueError),  # C&W is L2 only
        (lambda: PGD(ThreatModel("l1", 1.0)), ValueError),
        (lambda: PGD("linf"), TypeError),
        (lambda: PGD(LINF, steps=0), ValueError),
        (lambda: PGD(LINF, steps=2.5), TypeError),
        (lambda: PGD(LINF, step_size=-1.0), ValueError),
        (lambda: Restarts(PGD(LINF, random_start=False), 2), ValueError),
        (lambda: PGD(LINF, loss="hinge"), ValueError),
        (lambda: APGD(LINF, loss="margin"), ValueError),
        (lambda: APGD(LINF, rho=1.5), ValueError),
        (lambda: APGD(LINF, n_target_classes=-1), ValueError),
        (lambda: SquareAttack(LINF, p_init=0.0), ValueError),
        (lambda: SquareAttack(LINF, n_queries=0), ValueError),
        (lambda: CarliniWagnerL2(L2, learning_rate=0.0), ValueError),
        (lambda: CarliniWagnerL2(L2, binary_search_steps=True), TypeError),
    ],
)
def test_bad_configuration(build: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        build()


def test_dlr_needs_enough_classes(digits: Digits) -> None:
    def three_classes(z: Tensor) -> Tensor:
        return digits.model(z)[:, :3]  # type: ignore[no-any-return]

    keep = (digits.y < 3).nonzero().squeeze(1)[:16]
    x, y = digits.x[keep], digits.y[keep]
    with pytest.raises(ValueError, match="at least 4 classes"):
        APGD(LINF, steps=2, loss="dlr")(three_classes, x, y, (y + 1) % 3)
    with pytest.raises(ValueError, match="at least 3 classes"):
        APGD(LINF, steps=2, loss="dlr")(lambda z: three_classes(z)[:, :2], x, y.clamp(max=1))
