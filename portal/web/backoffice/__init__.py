"""The organisers' back office under /admin: its route table (routes.py) and handlers by concern. Never imports the public handlers, and they never import these."""
