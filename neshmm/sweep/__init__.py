"""Hydra multirun sweeps over the pipeline, and the table and plot that summarize them.

A sweep job (``python -m stages.sweep``) trains, samples and scores one configuration in
its own Hydra job folder, never touching the DVC pipeline's files. Everything it computes
is kept in a content-addressed cache (:mod:`neshmm.sweep.cache`), so a corpus is parsed and
tokenized once per data/tokenize config, and an interrupted sweep, run again, recomputes
only the jobs that had not finished. :mod:`neshmm.sweep.summary` turns the job folders of
a multirun (or the experiments of ``dvc exp show``) into one table and one plot.
"""
