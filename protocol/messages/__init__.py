"""Typed OCPP messages, generated from the official JSON schemas (``v16``, ``v201``)."""
