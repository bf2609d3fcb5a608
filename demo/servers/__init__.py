"""Local PostgreSQL and Valkey/Redis servers with TLS from a private CA.

The building blocks shared by the demo servers of ``make run`` (``demo/stack.py``) and the
test suite's throwaway servers (``tests/servers.py``). Nothing here imports Django.
"""
