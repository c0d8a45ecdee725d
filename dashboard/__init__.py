"""The web dashboard: Dash pages over the metrics layer (see docs/interfaces-internal.md)."""
