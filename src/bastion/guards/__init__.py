"""Guards: request and response checks such as PII detection and masking."""
