"""Built-in codecs; importing this package registers them."""

from . import intra  # noqa: F401
