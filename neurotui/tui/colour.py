"""Activation colour scales: a signed value → a Rich style (colour or monochrome cues).

Why quantised: the sentence view styles thousands of tokens per frame; mapping a value to
one of ``2·LEVELS+1`` precomputed styles makes recolouring a lookup, and equal styles let
Rich merge segments. Zero fades into the theme's background, so the scale works on dark and
light themes alike. Without colour (``NO_COLOR`` or ``--mono``) the sign is bold (+) or
underlined (−), strength is dim → plain → reverse video, and :func:`ColourMap.marker` adds a
glyph (▴▲ / ▾▼) so the sign stays readable even where underline is not rendered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.color import Color as RichColor
from rich.color import ColorParseError
from rich.color_triplet import ColorTriplet
from rich.style import Style

#: Levels per sign; level 0 is "about zero".
LEVELS = 8


@dataclass(frozen=True)
class ActivationScale:
    """A diverging scale as data: stops from weak to strong for each sign."""

    name: str
    negative: tuple[str, ...]
    positive: tuple[str, ...]
    description: str = ""
    colourblind_safe: bool = False


DEFAULT_SCALE = ActivationScale(
    name="blue-orange",
    negative=("#92C5DE", "#4393C3", "#2166AC"),
    positive=("#FDB863", "#E66101", "#B35806"),
    description="blue (−) · orange (+), colour-blind safe",
    colourblind_safe=True,
)


def _triplet(colour: str, fallback: str | None = None) -> ColorTriplet:
    """``colour`` as RGB; ``fallback`` when it names no RGB colour (and one is given).

    Why a fallback: Textual's ANSI themes (``ansi-dark``, ``ansi-light``, offered by its
    own "theme" command in the palette) give ``ansi_default`` as background and
    foreground — the terminal's own colours, which no program can know; parsing it raised
    ``ColorParseError`` and ended the app.
    """
    try:
        return RichColor.parse(colour).get_truecolor()
    except ColorParseError:
        if fallback is None:
            raise
        return RichColor.parse(fallback).get_truecolor()


def _mix(a: ColorTriplet, b: ColorTriplet, t: float) -> ColorTriplet:
    return ColorTriplet(
        round(a.red + (b.red - a.red) * t),
        round(a.green + (b.green - a.green) * t),
        round(a.blue + (b.blue - a.blue) * t),
    )


def _gradient(stops: Sequence[ColorTriplet], t: float) -> ColorTriplet:
    """Piecewise-linear colour at ``t`` in [0, 1] over equally spaced ``stops``."""
    if t <= 0:
        return stops[0]
    if t >= 1:
        return stops[-1]
    pos = t * (len(stops) - 1)
    i = int(pos)
    return _mix(stops[i], stops[i + 1], pos - i)


def _luminance(c: ColorTriplet) -> float:
    def chan(v: int) -> float:
        x = v / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

    return 0.2126 * chan(c.red) + 0.7152 * chan(c.green) + 0.0722 * chan(c.blue)


def _readable_on(bg: ColorTriplet) -> ColorTriplet:
    """Black or white, whichever contrasts more with ``bg`` (WCAG)."""
    lum = _luminance(bg)
    return (
        ColorTriplet(0, 0, 0)
        if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05)
        else ColorTriplet(255, 255, 255)
    )


def level_of(value: float, scale: float) -> int:
    """Signed level in ``[-LEVELS, LEVELS]`` of ``value`` on a ``±scale`` range."""
    if not scale or value != value:  # NaN or empty range
        return 0
    t = value / scale
    if t > 1:
        t = 1.0
    elif t < -1:
        t = -1.0
    return int(round(t * LEVELS))


class ColourMap:
    """Precomputed token styles of one scale on one background (or monochrome)."""

    def __init__(
        self,
        scale: ActivationScale = DEFAULT_SCALE,
        background: str = "#000000",
        foreground: str = "#FFFFFF",
        mono: bool = False,
        dark: bool = True,
    ) -> None:
        self.scale = scale
        self.mono = mono
        self.background = background
        # the terminal's own colours (ANSI themes) are unknown: black or white by the theme
        bg = _triplet(background, "#000000" if dark else "#FFFFFF")
        fg = _triplet(foreground, "#FFFFFF" if dark else "#000000")
        neg = [bg, *(_triplet(c) for c in scale.negative)]
        pos = [bg, *(_triplet(c) for c in scale.positive)]
        self._styles: list[Style] = []
        self._swatches: list[ColorTriplet] = []
        for level in range(-LEVELS, LEVELS + 1):
            t = abs(level) / LEVELS
            colour = bg if level == 0 else _gradient(neg if level < 0 else pos, t)
            self._swatches.append(colour)
            if mono:
                self._styles.append(self._mono_style(level))
            elif level == 0:
                self._styles.append(Style(color=RichColor.from_triplet(fg)))
            else:
                self._styles.append(
                    Style(
                        color=RichColor.from_triplet(_readable_on(colour)),
                        bgcolor=RichColor.from_triplet(colour),
                    )
                )

    @staticmethod
    def _mono_style(level: int) -> Style:
        if level == 0:
            return Style()
        strength = abs(level)
        sign = Style(bold=True) if level > 0 else Style(underline=True)
        if strength <= 2:
            return sign + Style(dim=True)
        if strength >= 6:
            return sign + Style(reverse=True)
        return sign

    def style(self, level: int) -> Style:
        """Style of a signed level (see :func:`level_of`)."""
        return self._styles[level + LEVELS]

    def swatch(self, level: int) -> str:
        """Hex colour of a level (the legend draws these)."""
        c = self._swatches[level + LEVELS]
        return f"#{c.red:02X}{c.green:02X}{c.blue:02X}"

    def marker(self, level: int) -> str:
        """One cell drawn after a token: a sign/strength glyph in monochrome, else a space."""
        if not self.mono or abs(level) < 3:
            return " "
        if level > 0:
            return "▲" if level >= 6 else "▴"
        return "▼" if level <= -6 else "▾"
