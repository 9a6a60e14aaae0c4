"""Observability below every other layer: the log context, log formatting and redaction, metrics.

Jobs, LTI service clients and views all record into these modules; only ``lti_tool.config`` and
libraries are imported here, so any layer may use them. The Flask side (request ids, /metrics)
is ``lti_tool.core.observability``.
"""
