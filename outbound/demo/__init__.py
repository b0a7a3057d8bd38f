"""``outbound demo``: a watched run on embedded SQLite with loopback providers."""
