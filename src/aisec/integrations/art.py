"""IBM Adversarial Robustness Toolbox (ART) adapters, both ways.

- :func:`to_art` hands an aisec model (any ``nn.Module`` mapping images in the bounds to logits)
  to ART as a correctly configured ``PyTorchClassifier``.
- :class:`ArtAttack` runs any ART evasion attack under aisec's attack contract, so that
  :func:`aisec.evaluate.evaluate_robustness`, :func:`aisec.evaluate.run_attack` and the CLI
  (``--attack art:ProjectedGradientDescent``) accept it. The threat model is still enforced:
  ART's output is projected onto it and the result reports it.
- :class:`ArtPreprocessedModel` puts an ART preprocessor (``JpegCompression``,
  ``FeatureSqueezing``, ``SpatialSmoothing``, ...) in front of a model as a defense, with a
  BPDA gradient (ART's own ``estimate_gradient``, the identity for these three) when the
  preprocessor is not differentiable.
- :func:`art_defense` turns an ART preprocessor into an aisec
  :class:`~aisec.defenses.preprocess.Preprocessor`, so that
  :func:`aisec.evaluate.evaluate_defense` and :func:`aisec.evaluate.compare_defenses` evaluate
  it like aisec's own defenses: non-adaptive transfer, then adaptive attacks with BPDA.

ART is an optional dependency: ``pip install "aisec[art]"`` (the extra also installs
``packaging``, which ART imports without declaring it). It is imported only when used.
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from aisec.attacks.base import AttackContext, EvasionAttack
from aisec.defenses.preprocess import Preprocessor
from aisec.integrations._common import (
    CallableModule,
    frozen_parameters,
    import_optional,
    model_device,
    seeded,
)
from aisec.models.plumbing import Model
from aisec.threat import ThreatModel

__all__ = [
    "ArtAttack",
    "ArtPreprocessedModel",
    "ArtPreprocessor",
    "art_defense",
    "art_evasion_attacks",
    "art_preprocessor",
    "to_art",
]

_NORMS: dict[float, str] = {math.inf: "linf", 2.0: "l2", 1.0: "l1"}
_ART_NORMS: dict[str, float | int] = {"linf": np.inf, "l2": 2, "l1": 1}


def _art(module: str = "art") -> ModuleType:
    return import_optional(module, extra="art", package="IBM ART (adversarial-robustness-toolbox)")


def to_art(
    model: nn.Module | Model,
    *,
    input_shape: Sequence[int] | None = None,
    num_classes: int | None = None,
    sample: Tensor | None = None,
    clip_values: tuple[float, float] = (0.0, 1.0),
    device: torch.device | str | None = None,
    **classifier_kwargs: Any,
) -> Any:
    """Wrap a model as ART's ``PyTorchClassifier``, configured for aisec's conventions.

    aisec models take NCHW images in ``clip_values`` and return logits (normalization inside the
    model), so the classifier gets ``channels_first=True``, no ART preprocessing, the given
    ``clip_values`` and a cross-entropy loss (on logits, as ART expects).

    Args:
        model: the classifier; a plain callable is wrapped in an ``nn.Module``.
        input_shape: the shape of one input, e.g. ``(3, 64, 64)``; inferred from ``sample``.
        num_classes: the number of classes; inferred by running the model on ``sample[:1]``.
        sample: ``(N, C, H, W)`` example inputs used for the inference above.
        clip_values: ``(lo, hi)``, the valid input range (aisec's threat-model bounds).
        device: where ART runs the model; default the device of the model's parameters.
        **classifier_kwargs: passed on to ``PyTorchClassifier`` (e.g.
            ``preprocessing_defences``).

    Returns:
        An ``art.estimators.classification.PyTorchClassifier``. Like any ART estimator it takes
        input gradients with ``loss.backward()``, which also fills the model's parameter
        ``.grad``; :class:`ArtAttack` avoids that by freezing the parameters.

    Raises:
        ValueError: if the shape or number of classes is neither given nor inferable.
        ImportError: if ART is not installed (``pip install "aisec[art]"``).
    """
    classification = _art("art.estimators.classification")
    if not callable(model):
        raise TypeError(f"model must be an nn.Module or callable, got {type(model).__name__}")
    module = model if isinstance(model, nn.Module) else CallableModule(model)
    dev = model_device(model, device)
    if input_shape is None or num_classes is None:
        if sample is None:
            raise ValueError(
                "to_art needs input_shape and num_classes, or a sample batch (N, C, H, W) to "
                "infer them from"
            )
        if not isinstance(sample, Tensor) or sample.ndim < 2 or sample.shape[0] < 1:
            raise ValueError("sample must be a non-empty tensor batch (N, ...)")
        if input_shape is None:
            input_shape = tuple(sample.shape[1:])
        if num_classes is None:
            with torch.no_grad():
                logits = module(sample[:1].to(dev))
            if not isinstance(logits, Tensor) or logits.ndim != 2:
                raise ValueError("the model must return logits of shape (N, num_classes)")
            num_classes = int(logits.shape[1])
    lo, hi = float(clip_values[0]), float(clip_values[1])
    if not lo < hi:
        raise ValueError(f"clip_values must satisfy lo < hi, got {clip_values!r}")
    classifier = classification.PyTorchClassifier(
        model=module,
        loss=nn.CrossEntropyLoss(),
        input_shape=tuple(int(d) for d in input_shape),
        nb_classes=int(num_classes),
        clip_values=(lo, hi),
        channels_first=True,
        device_type="gpu" if dev.type == "cuda" else "cpu",
        **classifier_kwargs,
    )
    if classifier._device != dev:  # ART picks the current CUDA device; honour the model's
        classifier._device = dev
        classifier._model.to(dev)
    return classifier


def art_evasion_attacks() -> list[str]:
    """The names of ART's evasion attack classes (for error messages and the CLI)."""
    evasion = _art("art.attacks.evasion")
    base = _art("art.attacks").EvasionAttack
    return sorted(
        name
        for name, obj in vars(evasion).items()
        if inspect.isclass(obj) and issubclass(obj, base) and not name.startswith("_")
    )


def _resolve_attack_class(attack_class: type | str) -> type:
    evasion = _art("art.attacks.evasion")
    base = _art("art.attacks").EvasionAttack
    if isinstance(attack_class, str):
        found = getattr(evasion, attack_class, None)
        if not (inspect.isclass(found) and issubclass(found, base)):
            close = difflib.get_close_matches(attack_class, art_evasion_attacks(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"ART has no evasion attack named {attack_class!r}{hint}")
        return found
    if not (inspect.isclass(attack_class) and issubclass(attack_class, base)):
        raise TypeError(
            f"attack_class must be an ART evasion attack class (art.attacks.evasion.*) or its "
            f"name, got {attack_class!r}"
        )
    return attack_class


def _check_estimator(attack_class: type) -> None:
    """Fail early if ART's ``PyTorchClassifier`` cannot serve as the attack's estimator."""
    classifier = _art("art.estimators.classification").PyTorchClassifier
    mro = classifier.__mro__
    for requirement in getattr(attack_class, "_estimator_requirements", None) or ():
        options = requirement if isinstance(requirement, tuple) else (requirement,)
        if not any(option in mro for option in options):
            names = " or ".join(getattr(o, "__name__", str(o)) for o in options)
            raise ValueError(
                f"ART's {attack_class.__name__} needs an estimator of type {names}, which an "
                f"aisec image classifier (wrapped as PyTorchClassifier) cannot provide"
            )


def _to_aisec_norm(value: object) -> str:
    if isinstance(value, str):
        text = value.lower().removeprefix("l")
        number = math.inf if text in ("inf", "infinity", "np.inf") else float(text)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        raise ValueError(f"unsupported ART norm {value!r}")
    if number not in _NORMS:
        raise ValueError(f"ART norm {value!r} has no aisec threat model (use inf, 2 or 1)")
    return _NORMS[number]


class ArtAttack(EvasionAttack):
    """Any ART evasion attack, run under aisec's attack contract.

    The ART attack is built per call around the (call-counting) model wrapped by :func:`to_art`
    with ``clip_values`` = the threat model's bounds, and run with ``generate`` on the points
    that are not adversarial yet. Its output is then projected onto the threat model by the base
    class, so ``x_adv`` always satisfies it even for attacks without a budget (C&W, DeepFool);
    the norms of ART's raw output are reported as the extra ``"unprojected_norms"``. Every
    forward and backward pass ART makes goes through aisec's counting wrapper, so
    ``forwards``/``backwards`` are exact (ART batches internally, so they count ART's batches).
    The model's parameters are frozen during the run, so ART's ``loss.backward()`` computes only
    the input gradient and leaves no ``.grad`` behind on the model.

    The threat model and ART's ``norm``/``eps`` parameters are kept consistent: with ``threat``
    given, ``norm`` and ``eps`` are filled in from it (a conflicting value raises); without it,
    the threat model is built from ``norm`` (default L∞) and ``eps`` (required). When ``eps`` is
    filled in from the threat model and the attack has an ``eps_step`` and a ``max_iter`` (PGD,
    BIM, ...), ``eps_step`` defaults to ``2.5·eps/max_iter`` (Madry et al.'s rule, as aisec's PGD)
    because ART's default ``eps_step`` = 0.1 belongs to its default ``eps`` = 0.3. ``verbose`` is
    off and ``batch_size`` is the whole batch unless given. A targeted call sets
    ``targeted=True``. ART's random starts use NumPy's and torch's global generators; each call
    seeds them with ``seed`` and restores them afterwards.

    Args:
        attack_class: an ``art.attacks.evasion`` class, or its name (``"FastGradientMethod"``).
        threat: the threat model; default built from ``norm``/``eps`` in ``params``.
        seed: seed of ART's random starts.
        bounds: the valid input range when ``threat`` is not given.
        **params: keyword arguments of the ART attack (not ``estimator``).

    Raises:
        ImportError: if ART is not installed (``pip install "aisec[art]"``).
        ValueError: for an unknown attack name, an attack needing an estimator type that a
            PyTorch image classifier cannot provide (e.g. an object detector or a decision
            tree), a missing budget, or ``norm``/``eps`` conflicting with ``threat``.
        TypeError: for parameters the ART attack does not accept.
    """

    supported_norms = ("linf", "l2", "l1")

    def __init__(
        self,
        attack_class: type | str,
        threat: ThreatModel | None = None,
        *,
        seed: int = 0,
        bounds: tuple[float, float] = (0.0, 1.0),
        **params: Any,
    ) -> None:
        cls = _resolve_attack_class(attack_class)
        _check_estimator(cls)
        signature = inspect.signature(cls)
        accepted = {n for n in signature.parameters if n not in ("self", "estimator", "classifier")}
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise TypeError(
                f"ART's {cls.__name__} has no parameter(s) {', '.join(unknown)}; it accepts "
                f"{', '.join(sorted(accepted))}"
            )
        params = dict(params)
        if threat is None:
            if "eps" not in params:
                raise ValueError(
                    f"give ArtAttack a threat model (threat=ThreatModel(...)) or the budget eps= "
                    f"for ART's {cls.__name__}"
                )
            norm = _to_aisec_norm(params.get("norm", np.inf))
            threat = ThreatModel(norm, float(params["eps"]), bounds)  # type: ignore[arg-type]
        elif not isinstance(threat, ThreatModel):
            raise TypeError(f"threat must be a ThreatModel, got {type(threat).__name__}")
        else:
            if "norm" in params and _to_aisec_norm(params["norm"]) != threat.norm:
                raise ValueError(
                    f"norm={params['norm']!r} conflicts with the threat model's {threat.norm!r}"
                )
            if "eps" in params and not math.isclose(float(params["eps"]), threat.eps):
                raise ValueError(
                    f"eps={params['eps']!r} conflicts with the threat model's eps {threat.eps}"
                )
            if "norm" in accepted:
                params.setdefault("norm", _ART_NORMS[threat.norm])
            if "eps" in accepted and "eps" not in params:
                params["eps"] = threat.eps
                if "eps_step" in accepted and "max_iter" in accepted and "eps_step" not in params:
                    max_iter = params.get("max_iter", signature.parameters["max_iter"].default)
                    params["eps_step"] = 2.5 * threat.eps / max(int(max_iter), 1)
        self.attack_class = cls
        self.name = f"art:{cls.__name__}"
        super().__init__(threat)
        self.params = params
        self.seed = self._check_int("seed", seed, 0)
        self._accepted = accepted
        requirements = getattr(cls, "_estimator_requirements", None) or ()
        flat = [o for r in requirements for o in (r if isinstance(r, tuple) else (r,))]
        gradient_mixins = ("LossGradientsMixin", "ClassGradientsMixin")
        # Per-instance: whether the attack is white-box (used by evaluate's sanity checks).
        vars(self)["uses_gradients"] = any(o.__name__ in gradient_mixins for o in flat)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"ArtAttack({self.attack_class.__name__}, {self.threat!s}, {params})"

    def build(self, estimator: Any, *, targeted: bool = False, batch: int = 32) -> Any:
        """The configured ART attack around ``estimator`` (e.g. one made by :func:`to_art`)."""
        params = dict(self.params)
        if "verbose" in self._accepted:
            params.setdefault("verbose", False)
        if "batch_size" in self._accepted:
            params.setdefault("batch_size", max(batch, 1))
        if targeted:
            if "targeted" not in self._accepted:
                raise ValueError(f"ART's {self.attack_class.__name__} has no targeted mode")
            params["targeted"] = True
        return self.attack_class(estimator, **params)

    def _run(self, ctx: AttackContext) -> Tensor:
        x = ctx.x
        estimator = to_art(
            CallableModule(ctx.model),
            input_shape=tuple(x.shape[1:]),
            num_classes=int(ctx.logits.shape[1]),
            clip_values=self.threat.bounds,
            device=x.device,
        )
        attack = self.build(estimator, targeted=ctx.targets is not None, batch=x.shape[0])
        labels = ctx.y if ctx.targets is None else ctx.targets
        x_np = x.detach().cpu().numpy().astype(np.float32, copy=False)
        with seeded(self.seed, x.device), frozen_parameters(ctx.model):
            out = attack.generate(x=x_np, y=labels.cpu().numpy())
        x_adv = torch.as_tensor(np.asarray(out), dtype=x.dtype, device=x.device)
        ctx.info["unprojected_norms"] = self.threat.norms(x_adv - x)
        return x_adv


# --------------------------------------------------------------------------------------------
# ART preprocessors as defenses


def art_preprocessor(
    name: str, *, clip_values: tuple[float, float] = (0.0, 1.0), **params: Any
) -> Any:
    """An ART preprocessor by class name, configured for aisec's NCHW images.

    ``clip_values``, ``channels_first=True`` and ``apply_predict=True`` are passed when the class
    accepts them (unless given in ``params``).

    Args:
        name: a class of ``art.defences.preprocessor``, e.g. ``"JpegCompression"``,
            ``"FeatureSqueezing"``, ``"SpatialSmoothing"``.
        clip_values: the valid input range.
        **params: the preprocessor's parameters (``quality=50``, ``bit_depth=4``, ...).

    Raises:
        ValueError: for an unknown name.
    """
    module = _art("art.defences.preprocessor")
    base = module.Preprocessor
    cls = getattr(module, name, None)
    if not (inspect.isclass(cls) and issubclass(cls, base)):
        names = sorted(
            n for n, o in vars(module).items() if inspect.isclass(o) and issubclass(o, base)
        )
        close = difflib.get_close_matches(name, names, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"ART has no preprocessor named {name!r}{hint}")
    accepted = inspect.signature(cls).parameters
    defaults: dict[str, Any] = {
        "clip_values": clip_values,
        "channels_first": True,
        "apply_predict": True,
    }
    for key, value in defaults.items():
        if key in accepted:
            params.setdefault(key, value)
    return cls(**params)


class _ArtPreprocessBPDA(torch.autograd.Function):
    """ART preprocessing in the forward pass, ART's ``estimate_gradient`` in the backward pass."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, preprocessor: Any) -> Tensor:
        x_np = x.detach().cpu().numpy()
        out, _ = preprocessor(x_np)
        ctx.preprocessor = preprocessor
        ctx.save_for_backward(x)
        return torch.as_tensor(np.asarray(out), dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor, None]:
        (grad,) = grad_outputs
        (x,) = ctx.saved_tensors
        estimated = ctx.preprocessor.estimate_gradient(
            x.detach().cpu().numpy(), grad.detach().cpu().numpy()
        )
        return torch.as_tensor(np.asarray(estimated), dtype=grad.dtype, device=grad.device), None


class ArtPreprocessedModel(nn.Module):
    """A model with an ART preprocessor in front of it: a preprocessing defense.

    A preprocessor implemented in PyTorch (``art.defences.preprocessor.PreprocessorPyTorch``, e.g.
    ``SpatialSmoothingPyTorch``) is differentiated through exactly. Any other one (NumPy
    ``JpegCompression``, ``FeatureSqueezing``, ``SpatialSmoothing``) is not differentiable; its
    backward pass is ART's ``estimate_gradient``, which for these three is the identity: BPDA
    (Athalye et al., 2018), so gradient attacks on this module are adaptive attacks rather than
    attacks on a masked gradient. :attr:`bpda` says which case applies.

    Args:
        model: the classifier (logits out).
        preprocessor: an ART ``Preprocessor`` instance, or a class name for
            :func:`art_preprocessor` (with ``params``).
        **params: the preprocessor's parameters when it is given by name.

    Reference:
        A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of Security",
        ICML 2018.
    """

    def __init__(self, model: nn.Module, preprocessor: Any, **params: Any) -> None:
        super().__init__()
        if isinstance(preprocessor, str):
            preprocessor = art_preprocessor(preprocessor, **params)
        elif params:
            raise TypeError("params are only accepted with a preprocessor given by name")
        module = _art("art.defences.preprocessor")
        if not isinstance(preprocessor, module.Preprocessor):
            raise TypeError(
                f"preprocessor must be an ART Preprocessor, got {type(preprocessor).__name__}"
            )
        self.model = model
        self.preprocessor = preprocessor
        torch_base = _art("art.defences.preprocessor.preprocessor").PreprocessorPyTorch
        self.bpda = not isinstance(preprocessor, torch_base)

    def forward(self, x: Tensor) -> Tensor:
        if self.bpda:
            x = _ArtPreprocessBPDA.apply(x, self.preprocessor)
        else:
            x, _ = self.preprocessor.forward(x)
        out: Tensor = self.model(x)
        return out


class ArtPreprocessor(Preprocessor):
    """An ART NumPy preprocessor as an aisec preprocessing defense (not differentiable).

    The forward pass is ART's own preprocessing (bit for bit); the adaptive attacker's view
    (:meth:`~aisec.defenses.preprocess.Preprocessor.with_bpda`) passes the gradient straight
    through, which is also what ART's ``estimate_gradient`` does for ``JpegCompression``,
    ``FeatureSqueezing`` and ``SpatialSmoothing``. Build it with :func:`art_defense`.

    Args:
        preprocessor: an ART ``Preprocessor`` instance.
        bpda: start in BPDA mode.

    Reference:
        A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of Security",
        ICML 2018 (arXiv:1802.00420), Section 4.1 (BPDA).
    """

    name = "art"
    differentiable = False
    randomized = False

    def __init__(self, preprocessor: Any, *, bpda: bool = False) -> None:
        super().__init__(bpda=bpda)
        module = _art("art.defences.preprocessor")
        if not isinstance(preprocessor, module.Preprocessor):
            raise TypeError(
                f"preprocessor must be an ART Preprocessor, got {type(preprocessor).__name__}"
            )
        self.preprocessor = preprocessor

    def defend(self, x: Tensor) -> Tensor:
        """ART's preprocessing of ``(N, C, H, W)`` images, as a tensor on ``x``'s device."""
        out, _ = self.preprocessor(x.detach().cpu().numpy())
        return torch.as_tensor(np.asarray(out), dtype=x.dtype, device=x.device)

    def spec(self) -> str:
        return f"art:{type(self.preprocessor).__name__}"


class _ArtTorchPreprocessor(ArtPreprocessor):
    """An ART ``PreprocessorPyTorch``: differentiated through exactly."""

    differentiable = True

    def defend(self, x: Tensor) -> Tensor:
        out, _ = self.preprocessor.forward(x)
        result: Tensor = out
        return result


def art_defense(preprocessor: Any, **params: Any) -> ArtPreprocessor:
    """An ART preprocessor (an instance, or a class name with its parameters) as an aisec
    :class:`~aisec.defenses.preprocess.Preprocessor`.

    A NumPy preprocessor is declared not differentiable (the adaptive evaluation attacks it
    through BPDA); a ``PreprocessorPyTorch`` is differentiable and attacked through its exact
    gradient. Example: ``evaluate_defense(model, [art_defense("JpegCompression", quality=75)],
    x, y, threat)``.

    Args:
        preprocessor: an ART ``Preprocessor`` or a class name of ``art.defences.preprocessor``.
        **params: the preprocessor's parameters when it is given by name (see
            :func:`art_preprocessor`).

    Raises:
        ValueError: for an unknown name, or ART not installed.
        TypeError: for an object that is not an ART preprocessor, or ``params`` with an instance.
    """
    if isinstance(preprocessor, str):
        preprocessor = art_preprocessor(preprocessor, **params)
    elif params:
        raise TypeError("params are only accepted with a preprocessor given by name")
    torch_base = _art("art.defences.preprocessor.preprocessor").PreprocessorPyTorch
    if isinstance(preprocessor, torch_base):
        return _ArtTorchPreprocessor(preprocessor)
    return ArtPreprocessor(preprocessor)
