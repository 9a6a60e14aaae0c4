"""Recognition: badges from participation (rules are data), the celebration feed, peer mentors
and the weekly top-helpers board."""
