"""Billing: tariffs, pricing, invoices and the payment port."""
