"""The community manager's dashboard: engagement, early warning, and who is waiting for a reply."""
