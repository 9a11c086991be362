"""ArgusLM: self-hosted monitoring and benchmarking of LLM endpoints."""
