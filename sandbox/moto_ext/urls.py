"""Extended backends keep serving at the URLs of the moto service they extend."""

from __future__ import annotations

import importlib
from types import ModuleType


class ServedLikeMoto:
    """moto finds a backend's URL table next to the backend's module; point it at moto's module."""

    @property
    def _url_module(self) -> ModuleType:
        base = next(c for c in type(self).__mro__ if c.__module__.startswith("moto."))
        return importlib.import_module(base.__module__.removesuffix("models") + "urls")
