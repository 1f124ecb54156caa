"""Developer tools shipped with segflow: synthetic data, training and export commands."""
