"""The demo LMS: an independent LTI 1.3 platform simulator used by the tests and the demo."""
