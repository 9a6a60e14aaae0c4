"""The community home and the landing page of each widget."""
