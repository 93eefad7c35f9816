"""The rules of exports and their emails, with no I/O: standard library only."""
