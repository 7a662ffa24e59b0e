"""``module:pkg.mod:factory``: your own architecture, built by a factory, with your weights.

The module is imported (running its code: it is *your* code, found on ``sys.path``) and the
factory is called without arguments; it must return an ``nn.Module`` (an ``nn.Module`` class
whose constructor needs no arguments is a factory too). The weights come from a safetensors
file or a state dict. The input size is required (nothing in a factory says it); mean/std are
applied when given, otherwise the model must take images in ``[0, 1]`` itself.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import ClassVar

from torch import nn

from aisec.models.sources.common import Preprocess, finish, resolve_input_size
from aisec.models.sources.spec import LoadedModel, LoadOptions, ModelSource
from aisec.models.sources.weights import apply_state_dict, load_weights

__all__ = ["ModuleSource"]


@dataclass(frozen=True)
class ModuleSource(ModelSource):
    """A factory in an importable module, e.g. ``module:mypkg.nets:build_net``.

    Attributes:
        module: the dotted module path, e.g. ``"mypkg.nets"``.
        attribute: the factory's name in that module (dots reach nested attributes, e.g.
            ``"Net.small"``).
    """

    module: str
    attribute: str
    kind: ClassVar[str] = "module"
    needs: ClassVar[str] = (
        "weights (safetensors or a state dict) and the input size; optional mean/std (else "
        "the model takes [0, 1] images) and class names"
    )

    def __str__(self) -> str:
        return f"module:{self.module}:{self.attribute}"

    def load(self, options: LoadOptions) -> LoadedModel:
        """Import the factory, build the model and load the weights into it.

        Raises:
            ValueError: no weights, no input size, a module or factory that cannot be found,
                a factory that fails or returns something other than an ``nn.Module``, or
                weights that do not fit.
        """
        if options.weights is None:
            raise ValueError(
                f"{self} needs weights=FILE (--weights FILE: safetensors or a state dict) for "
                "the architecture its factory builds"
            )
        size = resolve_input_size(self, options, None)
        network = self._build()
        state = load_weights(options.weights, trust_pickle=options.trust_pickle)
        apply_state_dict(network, state, str(self))
        notes = (
            [] if options.mean else ["no normalisation given: the model must take [0, 1] images"]
        )
        preprocess = Preprocess(
            scale=options.pixel_scale or 1.0, mean=options.mean, std=options.std
        )
        return finish(
            self,
            network,
            preprocess,
            options,
            input_shape=(options.channels or 3, *size),
            class_names=None,
            white_box=True,
            notes=notes,
        )

    def _build(self) -> nn.Module:
        try:
            target: object = importlib.import_module(self.module)
        except ImportError as error:
            raise ValueError(
                f"{self}: cannot import the module {self.module!r} ({error}); it must be "
                "importable from the current environment (installed, or on PYTHONPATH)"
            ) from error
        for part in self.attribute.split("."):
            if not hasattr(target, part):
                raise ValueError(f"{self}: {self.module!r} has no attribute {self.attribute!r}")
            target = getattr(target, part)
        if not callable(target):
            raise ValueError(f"{self}: {self.attribute!r} is not callable")
        try:
            network = target()
        except TypeError as error:
            raise ValueError(
                f"{self}: the factory must be callable without arguments ({error}); wrap it "
                "in a function that sets the architecture's arguments"
            ) from error
        if not isinstance(network, nn.Module):
            raise ValueError(
                f"{self}: the factory must return a torch nn.Module, got {type(network).__name__}"
            )
        return network
