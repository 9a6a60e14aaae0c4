"""Cross-cutting web plumbing: health check, error pages, locale selection."""
