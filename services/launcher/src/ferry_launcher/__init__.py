"""The ``ferry`` command. It is the one package allowed to import every service: it composes them."""
