"""Reports built only from stored runs: leaderboards in several formats."""
