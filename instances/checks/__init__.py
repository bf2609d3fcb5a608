"""The live connection test: resolve, tcp, tls, auth, query, limits.

``engine.ConnectionCheck`` runs the steps for an ``engines.Target`` (resolve and tcp from
``network``, tls/auth/query from the instance's engine module, then ``limits``);
``service`` runs it for an ``Instance`` and keeps the history.
"""
