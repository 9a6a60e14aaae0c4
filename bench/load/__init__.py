"""Load test: simulated LMS users across many tenants, driven by locust (see run.py)."""
