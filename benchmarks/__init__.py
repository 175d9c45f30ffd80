"""Benchmarks: the original notebook's path (the baseline) against this pipeline's stages.

    python -m benchmarks.pipeline          # whole pipeline, baseline vs ours, per stage
    python -m benchmarks.scaling           # HMM fit cost vs n_components and corpus size
    python -m benchmarks.profile_hmm       # where one EM iteration spends its time

Nothing here is imported by the pipeline; tests only smoke-run it on a tiny demo corpus.
"""
