# First, so that without Haystack the error names the package to install.
import haystack_integrations.common.verimap  # noqa: F401
from haystack_integrations.components.caching.verimap.cache_checker import VerifiedCacheChecker

__all__ = ["VerifiedCacheChecker"]
