"""Development tools: the five-city demo, the process layout and virtual time."""
