"""Training entry points (`vgc train ...`). Data is read from a folder given on the command line."""
