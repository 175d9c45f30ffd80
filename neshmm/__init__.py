"""neshmm: HMMs learned from NES-MDB chiptunes, as a reproducible DVC + Hydra pipeline."""

__version__ = "0.1.0"
