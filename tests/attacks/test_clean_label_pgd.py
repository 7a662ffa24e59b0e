"""The clean-label perturbation runs the shared PGD loop, bit for bit as its old loop did.

:func:`aisec.attacks.poisoning.max_loss_perturbation` (Turner et al.'s "hard to learn"
perturbation) used to have its own L∞ PGD loop; it now runs
:func:`aisec.attacks.evasion.projected_gradient_ascent`. ``reference_max_loss_perturbation``
below is the old function, copied unchanged, and the tests assert that the new one gives the
same perturbed images bit for bit (so the tour's clean-label numbers do not move).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.attacks.poisoning import CleanLabel, Trigger, max_loss_perturbation
from aisec.threat import ThreatModel

pytestmark = pytest.mark.usefixtures("single_thread")

K = 5


# --------------------------------------------------------------------------------------------
# REFERENCE implementation: ``max_loss_perturbation`` as it was before the shared PGD, copied
# verbatim (apart from the name). Do not edit: it pins the behaviour the tour's numbers rely on.
# --------------------------------------------------------------------------------------------


def reference_max_loss_perturbation(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    steps: int = 10,
    step_size: float | None = None,
    batch_size: int = 256,
) -> Tensor:
    """REFERENCE: ``aisec.attacks.poisoning.clean_label.max_loss_perturbation`` before the
    shared PGD loop."""
    if threat.norm != "linf":
        raise ValueError(f"the clean-label perturbation is L∞; got a {threat.norm!r} threat")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    alpha = 2.5 * threat.eps / steps if step_size is None else float(step_size)
    if not alpha > 0:
        raise ValueError(f"step_size must be > 0, got {step_size!r}")
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, nn.Module) else []
    if isinstance(model, nn.Module):
        model.eval()
    try:
        out = []
        for start in range(0, x.shape[0], batch_size):
            xb = x[start : start + batch_size].detach()
            yb = y[start : start + batch_size]
            x_adv = xb.clone()
            for _ in range(steps):
                x_adv.requires_grad_(True)
                with torch.enable_grad():
                    loss = F.cross_entropy(model(x_adv), yb, reduction="sum")
                    (grad,) = torch.autograd.grad(loss, x_adv)
                with torch.no_grad():
                    x_adv = threat.project(x_adv.detach() + alpha * grad.sign(), xb)
            out.append(x_adv.detach())
        return torch.cat(out)
    finally:
        for module, training in modes:
            module.training = training


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


def _tiny_cnn(seed: int = 0, dtype: torch.dtype = torch.float32) -> nn.Sequential:
    """A tiny CNN with BatchNorm and Dropout, so that the mode it runs in matters."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(3, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 8, 3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Dropout(0.5),
            nn.Linear(8 * 4 * 4, K),
        )
        # Non-trivial running statistics, so that eval mode differs from train mode.
        bn = model[1]
        assert isinstance(bn, nn.BatchNorm2d)
        assert bn.running_mean is not None and bn.running_var is not None
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
    return model.to(dtype)


def _data(
    n: int, seed: int, dtype: torch.dtype = torch.float32, bounds: tuple[float, float] = (0, 1)
) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    lo, hi = bounds
    x = lo + (hi - lo) * torch.rand(n, 3, 8, 8, generator=generator, dtype=torch.float64)
    # Some pixels on the bounds, so that the box clips steps there.
    x[:, 0, 0, :] = lo
    x[:, 0, -1, :] = hi
    y = torch.randint(0, K, (n,), generator=generator)
    return x.to(dtype), y


def _modes(model: nn.Module) -> list[bool]:
    return [m.training for m in model.modules()]


# --------------------------------------------------------------------------------------------
# Bit-identity with the reference loop
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eps", "steps", "step_size", "batch_size", "n"),
    [
        (16 / 255, 10, None, 256, 40),  # CleanLabel's defaults, one batch
        (8 / 255, 5, None, 16, 40),  # three batches, the last one short
        (0.1, 3, 0.07, 7, 23),  # an explicit step size larger than eps / steps
        (0.05, 1, None, 5, 10),  # a single step, two batches
        (0.3, 20, 0.01, 64, 64),  # small steps that rarely reach the ball's surface
        (0.0, 2, 0.01, 8, 12),  # eps = 0: the projection returns x
    ],
)
@pytest.mark.parametrize("train_mode", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("seed", [0, 1])
def test_max_loss_perturbation_is_bit_identical(
    eps: float,
    steps: int,
    step_size: float | None,
    batch_size: int,
    n: int,
    train_mode: bool,
    seed: int,
) -> None:
    x, y = _data(n, seed)
    threat = ThreatModel("linf", eps)
    old_model, new_model = _tiny_cnn(seed), _tiny_cnn(seed)
    old_model.train(train_mode)
    new_model.train(train_mode)
    new_model[1].eval()  # a mixed mode must be restored module by module
    old_model[1].eval()
    old = reference_max_loss_perturbation(
        old_model, x, y, threat, steps=steps, step_size=step_size, batch_size=batch_size
    )
    new = max_loss_perturbation(
        new_model, x, y, threat, steps=steps, step_size=step_size, batch_size=batch_size
    )
    assert new.dtype == old.dtype and new.shape == old.shape
    assert torch.equal(old, new)
    assert not new.requires_grad
    assert _modes(new_model) == _modes(old_model)
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            old_model.state_dict().values(), new_model.state_dict().values(), strict=True
        )
    )
    if eps > 0:
        assert not torch.equal(new, x)  # the test exercises actual steps


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-1.0, 1.0), (-0.5, 2.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_bit_identical_across_bounds_and_dtypes(
    bounds: tuple[float, float], dtype: torch.dtype
) -> None:
    x, y = _data(30, 3, dtype, bounds)
    threat = ThreatModel("linf", 0.12, bounds)
    model = _tiny_cnn(3, dtype)
    old = reference_max_loss_perturbation(model, x, y, threat, steps=6, batch_size=12)
    new = max_loss_perturbation(model, x, y, threat, steps=6, batch_size=12)
    assert new.dtype == dtype
    assert torch.equal(old, new)


def test_bit_identical_for_a_plain_callable() -> None:
    """A model that is not an ``nn.Module`` (no modes to switch) gives the same result too."""
    x, y = _data(20, 4)
    threat = ThreatModel("linf", 0.1)
    net = _tiny_cnn(4).eval()

    def model(z: Tensor) -> Tensor:
        logits: Tensor = net(z)
        return 3.0 * logits

    old = reference_max_loss_perturbation(model, x, y, threat, steps=4, batch_size=8)
    new = max_loss_perturbation(model, x, y, threat, steps=4, batch_size=8)
    assert torch.equal(old, new)


def test_clean_label_poison_is_unchanged() -> None:
    """The whole attack: CleanLabel's poisoned set is the old perturbation plus the trigger."""
    x, y = _data(60, 5)
    surrogate = _tiny_cnn(5).eval()
    attack = CleanLabel(
        surrogate, Trigger.checkerboard(3), target=2, num_classes=K, rate=0.05, steps=4
    )
    x_p, y_p, chosen = attack.poison(x, y)
    expected = reference_max_loss_perturbation(
        surrogate, x[chosen], y[chosen], attack.threat, steps=4
    )
    expected = attack.apply_trigger(expected).clamp(0.0, 1.0)
    assert torch.equal(x_p[chosen], expected)
    assert torch.equal(y_p, y)


def test_out_of_bounds_images_fail_as_before() -> None:
    """Images outside the bounds cannot be projected around: the same ValueError as before."""
    x, y = _data(8, 6)
    x[3] += 2.0
    threat = ThreatModel("linf", 0.1)
    model = _tiny_cnn(6)
    with pytest.raises(ValueError, match="inside the bounds") as old:
        reference_max_loss_perturbation(model, x, y, threat, steps=2, batch_size=4)
    with pytest.raises(ValueError, match="inside the bounds") as new:
        max_loss_perturbation(model, x, y, threat, steps=2, batch_size=4)
    assert str(new.value) == str(old.value)
    assert model.training  # restored after the error
