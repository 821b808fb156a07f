"""Billing: tariffs, pricing, invoices, payment cards, plausibility, reports, the payment port."""
