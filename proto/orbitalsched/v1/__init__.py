"""Version 1 of the contract; regenerate with `make proto` (proto/generate.py)."""
