"""Alerts: rules over catalogue metrics, their states in the store, notification channels and the morning digest.

`alerts.rules` reads the rules file (HOMEWARD_ALERTS); `alerts.states` evaluates the rules and keeps each
instance's state in the store; `alerts.delivery` sends what is due, exactly once across processes;
`alerts.channels` speaks SMTP and webhooks; `alerts.digest` builds the morning email.
"""
