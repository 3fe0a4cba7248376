"""Ways to show a stored result: the terminal, an HTML page, a badge, a comparison, the command that reproduces it."""

# Every score cab-check shows carries this: one local run is not CAB's sweep.
PROVISIONAL_TEXT = "Provisional — not for citation"
