"""Built-in codecs; importing this package registers them."""

from . import intra, stem  # noqa: F401
