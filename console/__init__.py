"""Console: the FastAPI app operators and inspectors work in."""
