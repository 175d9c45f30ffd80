"""Where numba keeps the package's compiled kernels: outside the source tree, keyed by the source's content.

The kernels: the E-step (neshmm/models/estep.py) and the synthesizer's loops
(neshmm/audio/apu_kernel.py).

Why: numba's own locators key the on-disk cache by the source file's *folder*, so every
checkout, clone or copy of the project compiled the kernel again (~11 s CPU): each fresh
clone's first `dvc repro`, and every DVC repo the test suite builds (about 20 of them, a
quarter of the suite's time). Here the cache folder is named after a hash of the source
file's bytes, so any copy of the same code finds the same compiled kernel, and two
versions of the code (e.g. two branches) keep their own entries side by side. numba itself
still checks its index against the source's content hash before loading anything.

Cache root: ``NUMBA_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/neshmm/numba``
(``~/.cache/neshmm/numba``) — never ``__pycache__`` in the checkout, which litters the tree
and fails on read-only installs.

This is the one place that touches numba's caching internals (numba 0.6x: the
``numba.core.caching.UserProvidedCacheLocator`` class and the ``CacheImpl._locator_classes``
list). ``tests/models/test_numba_cache.py`` guards it: a copy of the package at another
path must load the kernel from the cache without compiling. The numba pin in
pyproject.toml stops before the next minor release.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def cache_root() -> str:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return os.environ.get("NUMBA_CACHE_DIR") or str(base / "neshmm" / "numba")


def install() -> None:
    """Point numba's cache at :func:`cache_root` and key this package's kernels by content.

    Call before the first ``@njit(cache=True)`` function of the package is defined.
    """
    os.environ.setdefault("NUMBA_CACHE_DIR", cache_root())  # read when numba is first imported
    import numba
    from numba.core import caching

    if not numba.config.CACHE_DIR:  # numba was imported earlier by someone else
        numba.config.CACHE_DIR = cache_root()
    package = Path(__file__).resolve().parents[1]  # neshmm/: kernels live in several subpackages

    class ContentKeyedLocator(caching.UserProvidedCacheLocator):
        def __init__(self, py_func, py_file):
            super().__init__(py_func, py_file)
            digest = hashlib.sha256(Path(py_file).read_bytes()).hexdigest()[:20]
            self._cache_path = os.path.join(numba.config.CACHE_DIR, f"{Path(py_file).stem}-{digest}")

        @classmethod
        def from_function(cls, py_func, py_file):
            if package not in Path(py_file).resolve().parents:  # not one of ours: numba's own locators
                return None
            return super().from_function(py_func, py_file)

    locators = caching.CacheImpl._locator_classes
    if not any(c.__name__ == ContentKeyedLocator.__name__ for c in locators):
        locators.insert(0, ContentKeyedLocator)
