"""Corpus loaders (one module per corpus) and the task specs."""
