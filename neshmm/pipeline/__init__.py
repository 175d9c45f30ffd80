"""The pipeline's steps, one module per DVC stage, each a function of (config, input
folders, output folder) that `stages/*.py` and the sweep jobs both call.

Keeping the steps here, below the command-line layer, is what lets a sweep job compute
exactly what `dvc repro` computes without importing `stages/`; :mod:`.paths` names every
artifact so the two never disagree on where a file lives.
"""
