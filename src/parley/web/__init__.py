"""The web service: serves the built web app and, in ``parley up``, routes to the other services."""
