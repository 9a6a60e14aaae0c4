"""LTI 1.3: the only package that imports pylti1p3; it hands plain dataclasses to the rest."""
