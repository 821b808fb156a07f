"""Security: API tokens and data key rotation."""
