"""``python -m levante`` runs the command-line interface."""

from levante.cli.main import main

if __name__ == "__main__":
    main()
