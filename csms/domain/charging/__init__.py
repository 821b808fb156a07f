"""Charging: stations, EVSEs, authorization, transactions, meter samples, operator commands."""
