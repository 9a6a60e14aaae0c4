"""Background jobs behind one small interface: in-process by default, Redis in production."""
