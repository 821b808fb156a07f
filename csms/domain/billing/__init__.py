"""Billing: tariffs, pricing, invoices, payment cards, plausibility checks, reports and the payment port."""
