"""Settings for a Celery worker that a test starts: the test settings, on the
queue that the test chose, so that no other worker on the shared Redis takes
its tasks and it takes no one else's."""

import os

from tests.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ["TEST_CELERY_QUEUE"]
