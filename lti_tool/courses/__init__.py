"""The shared kernel: platforms (tenants), courses, members, enrolments and placements."""
