"""The tamper-evident audit log: hash chains, signed checkpoints, encrypted payloads and erasure."""
