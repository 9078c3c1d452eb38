"""Tokens, prices and the usage ledger: what a request costs, estimated before and exact after."""
