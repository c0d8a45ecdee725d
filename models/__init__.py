"""Homeward's store, reference geography and metrics layer."""
