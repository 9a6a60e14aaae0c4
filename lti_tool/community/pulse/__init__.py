"""Course pulse surveys: one quick question to the students of a course, answered anonymously."""
