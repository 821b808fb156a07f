"""Charging: stations and EVSEs, device models, authorization, transactions, their events."""
