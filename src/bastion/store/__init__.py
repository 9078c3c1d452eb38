"""Durable state: keys, users, teams and the usage ledger, on SQLite (default) or PostgreSQL."""
