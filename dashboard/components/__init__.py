"""Reusable pieces of page layout: filter bar, tiles, tables, states, navigation."""
