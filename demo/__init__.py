"""Development only: the demo servers and data of ``make run`` (``load_demo``) and the
local server building blocks the test suite shares (``demo.servers``).

Not part of the production image: the settings install this app only in development mode
(``ZEKTOR_DEBUG=true``) and the test settings always do.
"""
