"""Local development (README command one): DEBUG on, embedded services unless URLs are given."""

from mso_platform.settings.base import *  # noqa: F403

DEBUG = True
