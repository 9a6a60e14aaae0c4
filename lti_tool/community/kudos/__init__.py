"""Kudos: members recognise each other's help, with a category and a short message."""
