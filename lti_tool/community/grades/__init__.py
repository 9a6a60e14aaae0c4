"""Participation grades: the rubric per graded placement and the scores it gives."""
