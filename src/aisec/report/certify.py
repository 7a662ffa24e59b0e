"""Files of a randomized-smoothing evaluation: ``metrics.json`` and the certified-accuracy PNG.

The ``aisec certify --out DIR`` command writes these with :func:`write_smoothing_outputs`.
"""

from __future__ import annotations

from pathlib import Path

from aisec.evaluate.certify import SmoothingEvaluation
from aisec.files import atomic_write_json
from aisec.report.figures import plot_certified_accuracy

__all__ = ["write_smoothing_outputs"]


def write_smoothing_outputs(evaluation: SmoothingEvaluation, out: str | Path) -> dict[str, Path]:
    """Write ``out/metrics.json`` and ``out/certified_accuracy.png``.

    ``metrics.json`` is :meth:`SmoothingEvaluation.to_dict
    <aisec.evaluate.certify.SmoothingEvaluation.to_dict>` (its keys are documented there); the
    PNG draws the certified accuracy against L2 radius.

    Args:
        evaluation: the evaluation to write.
        out: the directory (created if needed).

    Returns:
        ``{"metrics": path, "figure": path}``.
    """
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    metrics = directory / "metrics.json"
    atomic_write_json(metrics, evaluation.to_dict())
    label = f"{evaluation.name}, σ={evaluation.curve.sigma:g}"
    figure = plot_certified_accuracy(
        {label: evaluation.curve},
        directory / "certified_accuracy.png",
        title=(
            f"randomized smoothing: n={evaluation.curve.n}, α={evaluation.curve.alpha:g}, "
            f"{evaluation.curve.n_points} points"
        ),
    )
    return {"metrics": metrics, "figure": figure}
