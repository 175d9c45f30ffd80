"""Token sequence models behind one small interface (fit, log_likelihood, sample, save/load).

New model types register in :data:`MODELS`; stages and evaluation only use the interface,
so adding one needs a config schema (neshmm.config.MODEL_SCHEMAS) and a class here.
"""

from neshmm.models.base import TokenModel, load_model
from neshmm.models.hmm import HMMModel
from neshmm.models.markov import MarkovModel

MODELS: dict[str, type[TokenModel]] = {"hmm": HMMModel, "markov": MarkovModel}


def build_model(cfg, n_symbols: int) -> TokenModel:
    """A fresh, unfitted model for the config object ``cfg`` (HMMConfig, MarkovConfig, ...)."""
    return MODELS[cfg.name].from_config(cfg, n_symbols)


__all__ = ["MODELS", "TokenModel", "build_model", "load_model"]
