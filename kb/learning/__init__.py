"""Learning from the graph: memory per concept (FSRS), study plans to a date, practice code run."""
