from tests.servers import *  # noqa: F403
