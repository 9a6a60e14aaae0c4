"""HTTP endpoints that join LTI and the domain: /lti/* login, launch, deep linking, registration."""
