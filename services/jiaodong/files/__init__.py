"""Reading the operators' files in courts/: the registry, the SLA policy and the calendar."""
