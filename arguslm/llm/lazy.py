"""The one place litellm is imported (lazily: ~4 s and ~170 MB per process)."""

import os


def litellm():
    """The litellm module, configured for offline use and without debug output."""
    # Never fetch the price map from the network (offline machines stall for ~10 s).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm as module

    # litellm's debug info carries request bodies and keys: never print or log it.
    module.suppress_debug_info = True
    module.set_verbose = False
    return module
