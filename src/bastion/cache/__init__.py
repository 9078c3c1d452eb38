"""The response cache stage: exact (memory or Redis), semantic, and coalescing of identical requests."""
