from signalight.cli import app

app(prog_name="signalight")
