"""People: customers, accounts, cards, consents, rights, retention, PIN login, marketing, owners."""
