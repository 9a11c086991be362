"""The one place litellm is imported (lazily: ~4-8 s and ~170 MB per process)."""

import os


def litellm():
    """The litellm module, configured for offline use and without debug output."""
    # Never fetch the price map from the network (offline machines stall for ~10 s).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # Never download a tokenizer from a hub: litellm counts tokens itself when a provider
    # reports no usage, and a blocked download froze a probing loop for 23 s.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import litellm as module

    # litellm's debug info carries request bodies and keys: never print or log it.
    module.suppress_debug_info = True
    module.set_verbose = False
    module.disable_hf_tokenizer_download = True
    return module


def is_loaded() -> bool:
    """Whether this process has imported litellm already (nothing is imported to find out)."""
    import sys

    return "litellm" in sys.modules


def async_http_handler():
    """litellm's ``AsyncHTTPHandler`` class (its HTTP client wrapper), litellm configured first."""
    litellm()
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

    return AsyncHTTPHandler
