"""The demo LMS: an independent LTI 1.3 platform simulator used by the tests and the demo.

``platform`` is the LMS (OIDC, id_tokens, JWKS, deep linking, NRPS, dynamic registration) and
``lms`` its course pages; neither imports the rest of ``lti_tool`` nor pylti1p3. ``install``
mounts both at /demo/lms inside the tool when DEMO_MODE is on, and registers them both ways.
"""
