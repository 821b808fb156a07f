"""OCPP 2.0.1: what a charging station sends (inbound) and the commands sent to it (outbound)."""
