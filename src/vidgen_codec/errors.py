"""Error types. Every user-facing failure is a VgcError; the CLI prints it on one line."""

from __future__ import annotations


class VgcError(Exception):
    """Base of all errors that vgc reports to a user as one line."""


class InputError(VgcError):
    """A bad input: missing file, not a video, zero frames, unsupported size or options."""


class OptionError(InputError):
    """A bad encoder or decoder option: `option` names it as `api.encode`/`decode` does (its
    keyword: backbone_scale, q, ...), `value` is what was given, and the message says what
    is wrong without naming a command-line flag (the CLI maps the keyword to its flag:
    `cli.options.FLAGS`)."""

    def __init__(self, option: str, value, why: str):
        self.option, self.value, self.why = option, value, why
        super().__init__(f"{option}={value!r}: {why}")


class TrainingDataError(InputError, FileNotFoundError):
    """No usable training data under a `vgc train --data` folder (a FileNotFoundError too, for
    the samplers' fallbacks that catch it)."""


class WeightsError(VgcError):
    """Weights missing, corrupt, or not the ones a bitstream was encoded with."""


class FormatError(VgcError):
    """A malformed .vgc file. Names what is wrong and where.

    `chunk` is the 0-based index of the chunk being read (None for the file header) and
    `offset` the byte offset in the file where the problem was found.
    """

    def __init__(self, message: str, *, chunk: int | None = None, offset: int | None = None):
        self.reason = message
        self.chunk = chunk
        self.offset = offset
        where = []
        if chunk is not None:
            where.append(f"chunk {chunk}")
        if offset is not None:
            where.append(f"byte offset {offset}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)
