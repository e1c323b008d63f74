from tradeoff.cli import app

app(prog_name="tradeoff")
