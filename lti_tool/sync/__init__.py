"""Use cases joining LTI and the domain: handle a launch, sync a roster, push grades."""
