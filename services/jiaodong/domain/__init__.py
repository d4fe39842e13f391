"""Pure domain core: no I/O, standard library only."""
