"""Letterboxing: fit images of any size into a network input, ratio kept, and map boxes back.

Each model family has its convention (where the image sits, what fills the rest), so the style is
a value; the arithmetic and the way back to image pixels are shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class LetterboxStyle:
    """Where the resized image sits (centred, or in the top-left corner) and the pad value."""

    centred: bool
    pad_value: int


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one image landed in the network input.

    Input x = image x · scale + left, likewise y with top; the resized image is
    new_width × new_height; width × height is the original image.
    """

    scale: float
    left: int
    top: int
    new_width: int
    new_height: int
    width: int
    height: int

    def to_image(self, boxes: FloatArray) -> FloatArray:
        """[N, 4] x1, y1, x2, y2 boxes in input pixels → image pixels, clipped to the image."""
        offset = np.array([self.left, self.top, self.left, self.top], dtype=np.float32)
        back = (boxes.astype(np.float32) - offset) / np.float32(self.scale)
        back[:, 0::2] = np.clip(back[:, 0::2], 0, self.width)
        back[:, 1::2] = np.clip(back[:, 1::2], 0, self.height)
        return back.astype(np.float32)


def place(width: int, height: int, size: tuple[int, int], centred: bool) -> Placement:
    """The placement of a width × height image in a network input of size (width, height)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"empty image of {width}×{height} pixels")
    net_w, net_h = size
    scale = min(net_w / width, net_h / height)
    new_w = min(net_w, max(1, round(width * scale)))
    new_h = min(net_h, max(1, round(height * scale)))
    left, top = ((net_w - new_w) // 2, (net_h - new_h) // 2) if centred else (0, 0)
    return Placement(scale, left, top, new_w, new_h, width, height)


def letterbox_batch(
    images: Sequence[Image], size: tuple[int, int], style: LetterboxStyle, batch: int | None = None
) -> tuple[Image, list[Placement]]:
    """The images letterboxed into one uint8 [B, H, W, 3] canvas, with their placements.

    B is `batch` when given (the rows past the images stay pad-filled), else len(images);
    channel order is untouched.
    """
    rows = len(images) if batch is None else batch
    if rows < len(images):
        raise ValueError(f"{len(images)} images do not fit a batch of {rows}")
    net_w, net_h = size
    canvas = np.full((rows, net_h, net_w, 3), style.pad_value, dtype=np.uint8)
    placements: list[Placement] = []
    for row, image in enumerate(images):
        placement = place(image.shape[1], image.shape[0], size, style.centred)
        resized = (
            image
            if (placement.new_width, placement.new_height) == (placement.width, placement.height)
            else cv2.resize(
                image, (placement.new_width, placement.new_height), interpolation=cv2.INTER_LINEAR
            )
        )
        top, left = placement.top, placement.left
        canvas[row, top : top + placement.new_height, left : left + placement.new_width] = resized
        placements.append(placement)
    return canvas, placements


def nchw(canvas: Image, *, rgb: bool, mean: FloatArray, std: FloatArray) -> FloatArray:
    """A float32 NCHW tensor from a uint8 [B, H, W, 3] BGR canvas: (pixel − mean) / std.

    `rgb` swaps the channels to RGB first; mean and std are per channel, in the output order.
    """
    planes = canvas.transpose(0, 3, 1, 2)
    if rgb:
        planes = planes[:, ::-1]
    tensor = np.ascontiguousarray(planes, dtype=np.float32)  # one pass: reorder and convert
    tensor -= mean[:, np.newaxis, np.newaxis]  # in place on contiguous planes: 7× faster
    tensor /= std[:, np.newaxis, np.newaxis]  # than normalising the interleaved pixels
    return tensor
