"""Watching a run: metrics, the run report, exit codes, hooks, progress lines and the HTTP monitor."""
