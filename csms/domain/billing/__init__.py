"""Billing: tariffs, pricing, payment cards, plausibility checks and reports."""
