"""Real local servers standing in for outside services: SMTP, an SMS gateway, a payment
processor. Each listens on 127.0.0.1 on a port of its own and can be made to fail."""
