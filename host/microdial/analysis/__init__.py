"""Session and course analysis: statistics, ruptures and repairs, figure, clips and reports."""
