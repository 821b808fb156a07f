"""The domain: version-neutral rules, by business concern (charging, people, billing, security)."""
