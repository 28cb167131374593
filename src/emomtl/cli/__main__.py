"""``python -m emomtl.cli``: the command line."""

from emomtl.cli import app

if __name__ == "__main__":
    app()
