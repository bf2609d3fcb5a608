"""The live connection test: resolve, tcp, tls, auth, query, limits.

``engine.ConnectionCheck`` runs the steps for a ``session.Target``; ``service`` runs it for
an ``Instance`` and keeps the history.
"""
