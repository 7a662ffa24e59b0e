"""aisec's model-file scanner against picklescan, modelscan and fickling on one corpus.

``run.sh`` builds the third-party tools' own environment (``.venv-scanners``) and runs
:mod:`benchmarks.scanners.compare`, which writes ``benchmarks/results/scanners.md``.
"""
