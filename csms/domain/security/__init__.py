"""Security: API tokens, data key rotation, security events, chargers' CSRs and the
certificates csms's CA issued."""
