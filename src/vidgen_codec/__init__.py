"""vgc: a generative video codec for ultra-low bitrates.

The path of a frame (see README):

    cli -> api -> video_io -> codec (model + entropy backend) -> bitstream (container)

and the mirror image on decode.
"""

__version__ = "0.1.0"
