"""Analysis node types: what objects look like (colour)."""
