from tests.receivers import *  # noqa: F403
from tests.servers import *  # noqa: F403
