"""OCPP 1.6J: what a charge point sends (inbound) and the commands sent to it (outbound)."""
