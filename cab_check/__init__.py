"""cab-check: one CodingAgentBench cell on your own machine, scored as CAB v0.1 scores it — provisional."""

__version__ = "0.1.0"
