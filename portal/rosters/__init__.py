"""Rosters as organisers read them: the roster page's queries, the door, the numbers and chart, and exports."""
