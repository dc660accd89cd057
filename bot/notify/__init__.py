"""Alerts to an operator through apprise.

What to say (alerts), to whom and how often (targets, gate), following the journal (watch),
sending in the background (notifier, sender).
"""
