"""Defenses: preprocessing, robust training, certification and detection of attacks and poisons.

* :mod:`aisec.defenses.certify` — randomized smoothing (Cohen et al. 2019): ``predict`` and
  ``certify`` with an explicit abstain, certified accuracy against L2 radius.
* :mod:`aisec.defenses.training` — robust training as step losses of the resumable trainer:
  PGD-AT (Madry et al. 2018), TRADES (Zhang et al. 2019), fast FGSM-RS AT (Wong et al. 2020)
  and Gaussian-noise training (Cohen et al. 2019); ``train_variant`` for zoo models.
"""
