"""Flags on posts, and (later) the moderation queue."""
