"""Per-version adapters: typed OCPP requests in, version-neutral domain calls, answers out."""
