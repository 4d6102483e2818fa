"""Subscribers to new events: asking, confirming, preferences, leaving; and the back office's view of them."""
