"""The LLM gateway: the one way ArgusLM calls, times and classifies LLM providers.

litellm is imported lazily inside this package only (importing it costs ~4 s and ~170 MB).
"""
