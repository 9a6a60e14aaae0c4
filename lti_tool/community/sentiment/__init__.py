"""Sentiment of posts, English and Italian, computed offline; weekly course mood for staff."""
