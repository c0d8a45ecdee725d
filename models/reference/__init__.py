"""England's reference geography, shipped as CSVs (see README.md); `build.py` derives them."""
