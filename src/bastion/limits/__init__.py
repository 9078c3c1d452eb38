"""Admission: rate limits (requests, tokens, concurrency) and USD budgets, in memory or on Redis."""
