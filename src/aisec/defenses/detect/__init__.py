"""Detection of poisoned training data from a trained model's activations.

* :func:`spectral_signatures` (Tran et al., 2018): per class, outlier scores along the top
  singular vector of the centred penultimate activations; flags the highest ``1.5·ε`` of each
  class.
* :func:`activation_clustering` (Chen et al., 2018): per class, ICA to 10 dimensions and
  2-means; flags the smaller cluster when it is small and well separated.

Both take the activations ``(N, D)`` and labels ``(N,)`` of the training set (compute them with
:func:`penultimate_features`) and return a :class:`BackdoorDetection`; :func:`detection_metrics`
scores the flags against known poisoned indices.

:class:`FeatureSqueezing` (Xu et al., 2018) detects adversarial *inputs* instead: the largest L1
distance between the softmax on an input and on its squeezed versions; :func:`roc_auc` scores
any detector's scores.

:class:`RONI` (Nelson et al., 2009) screens a spam filter's new training mail: a message whose
addition to small training sets lowers accuracy on trusted mail is rejected.
"""

from __future__ import annotations

from aisec.defenses.detect.activation_clustering import activation_clustering
from aisec.defenses.detect.backdoor import (
    BackdoorDetection,
    DetectionMetrics,
    detection_metrics,
    penultimate_features,
)
from aisec.defenses.detect.roni import (
    RONI,
    CountLearner,
    NaiveBayesLearner,
    RoniMetric,
    RoniResult,
    SpamBayesLearner,
    count_matrix,
)
from aisec.defenses.detect.spectral import spectral_signatures
from aisec.defenses.detect.squeezing import FeatureSqueezing, roc_auc

__all__ = [
    "RONI",
    "BackdoorDetection",
    "CountLearner",
    "DetectionMetrics",
    "FeatureSqueezing",
    "NaiveBayesLearner",
    "RoniMetric",
    "RoniResult",
    "SpamBayesLearner",
    "activation_clustering",
    "count_matrix",
    "detection_metrics",
    "penultimate_features",
    "roc_auc",
    "spectral_signatures",
]
