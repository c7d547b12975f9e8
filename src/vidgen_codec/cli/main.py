"""The `vgc` group and its entry point: one-line errors and documented exit codes."""

from __future__ import annotations

import os
import signal
import sys

import click

from .. import __version__
from ..deferred_signals import Terminated, on_signal
from ..errors import OptionError, VgcError
from .options import CONTEXT, option_message


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="vgc")
def main():
    """vgc: a learned video codec for ultra-low bitrates.

    \b
    Examples:
      vgc encode clip.mp4 clip.vgc --bpp 0.02
      vgc decode clip.vgc clip.mkv
      vgc info clip.vgc --frames
      vgc codecs
      vgc encode long.mp4 long.vgc --bpp 0.02 --workers 4   # spans on a local Ray
      vgc batch encode clips/ -o out/ --bpp 0.02 --workers 4
    """


def run():
    """Console entry point: one-line errors, documented exit codes (README), no tracebacks for
    bad input: 0 done, 1 error, 2 usage error, 3 internal error, 128 + n killed by signal n
    (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""
    import warnings

    # compressai's import calls torch.jit.script, which torch 2.14 flags as deprecated
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
    previous = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None:
            try:
                previous[sig] = signal.signal(sig, on_signal)
            except ValueError:  # not the main thread (run() called from a library)
                pass
    try:
        _run_main()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_main():
    try:
        main(standalone_mode=False)
    except Terminated as e:
        click.echo(f"vgc: terminated by {signal.Signals(e.signum).name}", err=True)
        sys.exit(128 + e.signum)
    except click.exceptions.Abort:
        click.echo("vgc: interrupted", err=True)
        sys.exit(130)
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx is not None else "vgc"
        click.echo(f"vgc: error: {e.format_message()} (see {cmd} --help)", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except OptionError as e:
        click.echo(f"vgc: error: {option_message(e)}", err=True)
        sys.exit(1)
    except VgcError as e:
        click.echo(f"vgc: error: {e}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("vgc: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # a bug: say so in one line; VGC_DEBUG=1 shows the traceback
        if os.environ.get("VGC_DEBUG"):
            raise
        click.echo(f"vgc: internal error: {type(e).__name__}: {e} (set VGC_DEBUG=1 for details)",
                   err=True)
        sys.exit(3)
