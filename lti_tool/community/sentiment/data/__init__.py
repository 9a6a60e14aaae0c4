"""The sentiment lexicons: data files read by the scorers, shipped with the package."""
