"""``segflow serve``: workflows behind an HTTP API (a consumer of the engine, as the editor is)."""
