"""Organiser accounts: adding and managing them, passwords, signing in and its throttling."""
