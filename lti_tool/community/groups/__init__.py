"""Peer groups: group sets, assignment, the group space and group health."""
