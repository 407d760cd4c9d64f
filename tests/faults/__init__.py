"""The fault catalogue: hostile input, faults and attacks, each against real components (README.md here)."""
