"""Optional dependencies: import one, or raise an ``ImportError`` that says what to install.

The core needs chromadb only for its store; the adapters need their framework. A bare
``ModuleNotFoundError: No module named 'langchain_core'`` from deep inside says neither.

>>> require("json", install="nothing", who="this example").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType


def require(module: str, *, install: str, who: str) -> ModuleType:
    """``import module``; if it (not something it imports) is missing, ``ImportError: {who}: 'module' is not
    installed; pip install {install}``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the module is there but something it needs is not: that error names the right thing
        raise ImportError(f"{who}: {module!r} is not installed; pip install {install}") from exc
