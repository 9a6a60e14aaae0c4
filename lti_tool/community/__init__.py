"""Community capabilities: one subpackage each (qa, groups, kudos, engagement, moderation)."""
