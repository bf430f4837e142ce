"""The reports' charts as inline SVG geometry: paths, ticks, markers and bars computed here, so that the
templates only print them.

Time on the charts is seconds since the run's start (`meta.json` `started_us`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

CHART_WIDTH, CHART_HEIGHT = 640, 210
MARGIN_LEFT, MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM = 52, 16, 12, 30
BAR_HEIGHT, BAR_LABEL_WIDTH = 18, 80
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#999999", "#000000")
P50_COLOR, P99_COLOR, OK_COLOR, ERROR_COLOR = "#0072b2", "#e69f00", "#009e73", "#d55e00"
OFFERED_COLOR = "#999999"


@dataclass(frozen=True)
class Series:
    """Per second of a run: p50 and p99 of ok latencies (None in a second without any), ok and failed
    requests per second, and each balancer's share of the ok requests (0 in a second without any)."""

    duration_s: float
    second: list[int]
    p50_ms: list[float | None]
    p99_ms: list[float | None]  # over bins of `p99_bin_s` seconds (each second its bin's), None where too few
    ok_per_s: list[float | None]
    errors_per_s: list[float | None]
    balancer_share: dict[str, list[float | None]]  # balancer -> its share in each second
    p99_bin_s: int = 1
    offered_per_s: list[float | None] | None = None  # requests due each second (open loop); None: closed loop
    connect_p50_ms: list[float | None] | None = None  # median connect time of each second's new connections


@dataclass(frozen=True)
class Marker:
    """A fault or an undo on the time axis."""

    t_s: float  # seconds since the run's start
    action: str  # "fault" or "undo"
    label: str


class Scale(NamedTuple):
    """The axes a chart set is drawn on; modes compared side by side share one."""

    seconds: float  # length of the time axis
    latency_ms: float  # the highest latency to fit
    rate: float  # the highest per-second count to fit
    balancers: tuple[str, ...]  # legend order and colours
    connect_ms: float = 1.0  # the highest connect time to fit


class Plot(NamedTuple):
    """Maps data to SVG coordinates inside the margins of a `width` x `height` chart."""

    width: float
    height: float
    x_max: float
    y_max: float

    def x(self, value: float) -> float:
        inner = self.width - MARGIN_LEFT - MARGIN_RIGHT
        return round(MARGIN_LEFT + inner * value / self.x_max, 1)

    def y(self, value: float) -> float:
        inner = self.height - MARGIN_TOP - MARGIN_BOTTOM
        return round(self.height - MARGIN_BOTTOM - inner * value / self.y_max, 1)


@dataclass(frozen=True)
class XTick:
    x: float
    label: str


@dataclass(frozen=True)
class YTick:
    y: float
    label: str


@dataclass(frozen=True)
class MarkerLine:
    """A marker where the chart draws it."""

    x: float
    action: str
    label: str
    t_s: float = 0.0  # where it is on the time axis (the page's zoom moves it)


@dataclass(frozen=True)
class Shape:
    """A line or a filled area: an SVG path in a colour, named in its tooltip."""

    name: str
    color: str
    path: str


@dataclass(frozen=True)
class LegendItem:
    name: str
    color: str


@dataclass(frozen=True)
class ReadoutSeries:
    name: str
    color: str
    values: list[float | None]  # at the readout's `x`; None: nothing in that second


@dataclass(frozen=True)
class Readout:
    """What the page's script reads off a chart (reports/templates/base.html.j2): the time of each value,
    each series' values, how to print them, and the time axis's length; the script maps the cursor's
    position to the second under it and zooms the time axis around a fault."""

    x: list[float]  # seconds since the run's start (each second's figure at its middle)
    series: list[ReadoutSeries]
    unit: str  # printed after each value ("ms", "/s", "%")
    x_max: float
    x_unit: str = "s"  # "s": seconds since the run's start; "run": the run's number in a history


@dataclass(frozen=True)
class Chart:
    """One chart: its size, plot area, ticks on both axes, the event markers and what it draws."""

    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float
    x_ticks: list[XTick]
    y_ticks: list[YTick]
    y_unit: str
    x_unit: str
    markers: list[MarkerLine]
    lines: list[Shape]
    areas: list[Shape]
    legend: list[LegendItem]
    readout: Readout | None = None  # the values drawn, for the page's hover readout and zoom (None: static)

    @property
    def readout_data(self) -> dict | None:
        """The readout as the page's script reads it (JSON in the figure's `data-readout`)."""
        return None if self.readout is None else asdict(self.readout)


@dataclass(frozen=True)
class Bar:
    """One host's share as a horizontal bar, its label on the left and its value on the right."""

    label: str
    y: float
    x: float
    width: float
    text_x: float
    text: str
    color: str


@dataclass(frozen=True)
class ShareBars:
    width: float
    height: float
    bar_height: float
    bars: list[Bar]


@dataclass(frozen=True)
class RunCharts:
    """The per-second charts of one run."""

    latency: Chart
    throughput: Chart
    balancers: Chart
    p99_bin_s: int = 1  # the p99 line's bins, in seconds
    connect: Chart | None = None  # the connect time of new connections; None: the run opened none it recorded

    @property
    def throughput_caption(self) -> str:
        open_loop = any(item.name == "offered/s" for item in self.throughput.legend)
        return "Ok requests and errors per second" + (", and the requests due (open loop)" if open_loop else "")

    @property
    def latency_caption(self) -> str:
        bins = "each second" if self.p99_bin_s == 1 else f"over {self.p99_bin_s} s bins"
        return f"Latency of ok requests: p50 each second, p99 {bins}"


def nice_ticks(top: float, count: int = 5) -> list[float]:
    """0 and multiples of a 1-2-5 step up to the first one at or above `top` (about `count` steps)."""
    top = top if top > 0 else 1.0
    rough = top / count
    magnitude = 10 ** math.floor(math.log10(rough))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= rough * (1 - 1e-9))
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 9) for i in range(steps + 1)]


def _tick_label(value: float) -> str:
    return f"{value:g}"


def _chart(
    plot: Plot,
    y_ticks: Sequence[float],
    y_labels: Sequence[str],
    y_unit: str,
    markers: Sequence[Marker],
    *,
    lines: Sequence[Shape] = (),
    areas: Sequence[Shape] = (),
    legend: Sequence[LegendItem] = (),
    readout: Readout | None = None,
    x_unit: str = "s since start",
) -> Chart:
    """What every chart has (size, plot area, ticks on both axes and the event markers), and what it draws."""
    return Chart(
        width=plot.width,
        height=plot.height,
        left=MARGIN_LEFT,
        top=MARGIN_TOP,
        right=plot.width - MARGIN_RIGHT,
        bottom=plot.height - MARGIN_BOTTOM,
        x_ticks=[XTick(plot.x(t), _tick_label(t)) for t in nice_ticks(plot.x_max, 8) if t <= plot.x_max],
        y_ticks=[YTick(plot.y(t), label) for t, label in zip(y_ticks, y_labels)],
        y_unit=y_unit,
        x_unit=x_unit,
        markers=[MarkerLine(plot.x(m.t_s), m.action, m.label, m.t_s) for m in markers if 0 <= m.t_s <= plot.x_max],
        lines=list(lines),
        areas=list(areas),
        legend=list(legend),
        readout=readout,
    )


def _polyline(plot: Plot, xs: Sequence[float], ys: Sequence[float | None]) -> str:
    """An SVG path through the points; a missing value lifts the pen."""
    parts, pen_down = [], False
    for x, y in zip(xs, ys):
        if y is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{plot.x(x)},{plot.y(y)}")
        pen_down = True
    return " ".join(parts)


def svg_line_chart(
    x: Sequence[float],
    lines: Mapping[str, tuple[str, Sequence[float | None]]],
    *,
    x_max: float,
    y_max: float,
    y_unit: str,
    markers: Sequence[Marker],
    width: float = CHART_WIDTH,
    height: float = CHART_HEIGHT,
    value_unit: str = "",
    x_unit: str = "s",
) -> Chart:
    """Lines (name -> (colour, values at `x`)) on axes from 0 to `x_max` and to a tick at or above `y_max`;
    `value_unit` follows each value in the hover readout."""
    y_ticks = nice_ticks(y_max)
    plot = Plot(width, height, x_max if x_max > 0 else 1.0, y_ticks[-1])
    series = [ReadoutSeries(name, color, _rounded(values)) for name, (color, values) in lines.items()]
    return _chart(
        plot,
        y_ticks,
        [_tick_label(t) for t in y_ticks],
        y_unit,
        markers,
        lines=[Shape(name, color, _polyline(plot, x, values)) for name, (color, values) in lines.items()],
        legend=[LegendItem(name, color) for name, (color, _) in lines.items()],
        readout=Readout([round(v, 2) for v in x], series, value_unit, plot.x_max, x_unit),
        x_unit="s since start" if x_unit == "s" else x_unit,
    )


def _rounded(values: Sequence[float | None], digits: int = 2) -> list[float | None]:
    """Values as the readout prints them (and no more digits in the page than that)."""
    return [None if v is None or v != v else round(float(v), digits) for v in values]


def svg_stacked_area(
    seconds: Sequence[float],
    layers: Mapping[str, tuple[str, Sequence[float | None]]],
    *,
    x_max: float,
    markers: Sequence[Marker],
    width: float = CHART_WIDTH,
    height: float = CHART_HEIGHT,
) -> Chart:
    """Shares (name -> (colour, value per second in 0..1)) stacked bottom-up in the given order, each
    value a step from its second's start to the next second (or `x_max`)."""
    y_ticks = [0.0, 0.25, 0.5, 0.75, 1.0]
    plot = Plot(width, height, x_max if x_max > 0 else 1.0, 1.0)
    steps = [x for start in seconds for x in (start, min(start + 1, plot.x_max))]
    floor = np.zeros(len(steps))
    areas = []
    for name, (color, values) in layers.items():
        ceiling = floor + np.repeat(np.nan_to_num(np.asarray(values, dtype=float)), 2)
        if steps:
            upper = [f"{plot.x(x)},{plot.y(y)}" for x, y in zip(steps, ceiling.tolist())]
            lower = [f"{plot.x(x)},{plot.y(y)}" for x, y in zip(reversed(steps), floor[::-1].tolist())]
            areas.append(Shape(name, color, f"M{' L'.join(upper + lower)} Z"))
        floor = ceiling
    legend = [LegendItem(name, color) for name, (color, _) in layers.items()]
    labels = [f"{t:.0%}" for t in y_ticks]
    middles = [round((s + min(s + 1, plot.x_max)) / 2, 2) for s in seconds]
    shares = [ReadoutSeries(name, color, _rounded([None if v is None else v * 100 for v in values], 1))
              for name, (color, values) in layers.items()]  # fmt: skip
    readout = Readout(middles, shares, "%", plot.x_max)
    return _chart(plot, y_ticks, labels, "share of ok requests", markers, areas=areas, legend=legend, readout=readout)


def svg_share_bars(shares: Mapping[str, float], colors: Mapping[str, str], width: float = CHART_WIDTH) -> ShareBars:
    """Horizontal bars, one per host, as long as its share (0..1)."""
    inner = width - BAR_LABEL_WIDTH - 60
    bars = [
        Bar(
            label=host,
            y=i * (BAR_HEIGHT + 4),
            x=BAR_LABEL_WIDTH,
            width=round(inner * share, 1),
            text_x=round(BAR_LABEL_WIDTH + inner * share + 4, 1),
            text=f"{share:.1%}",
            color=colors.get(host, PALETTE[0]),
        )
        for i, (host, share) in enumerate(shares.items())
    ]
    return ShareBars(width, max(1, len(bars) * (BAR_HEIGHT + 4)), BAR_HEIGHT, bars)


def scale_of(series: Series) -> Scale:
    """The axes that fit one run's series."""
    latencies = [v for v in series.p99_ms if v is not None]
    rates = [v for v in series.ok_per_s + series.errors_per_s + (series.offered_per_s or []) if v is not None]
    connects = [v for v in series.connect_p50_ms or [] if v is not None]
    return Scale(
        series.duration_s,
        max(latencies, default=1.0),
        max(rates, default=1.0),
        tuple(series.balancer_share),
        max(connects, default=1.0),
    )


def common_scale(scales: Sequence[Scale]) -> Scale:
    """Axes that fit every one of `scales`."""
    return Scale(
        max(s.seconds for s in scales),
        max(s.latency_ms for s in scales),
        max(s.rate for s in scales),
        tuple(sorted({b for s in scales for b in s.balancers})),
        max(s.connect_ms for s in scales),
    )


def balancer_colors(scale: Scale) -> dict[str, str]:
    return {host: PALETTE[i % len(PALETTE)] for i, host in enumerate(scale.balancers)}


def run_charts(series: Series, markers: Sequence[Marker], scale: Scale) -> RunCharts:
    """Latency, throughput and errors, and balancer shares per second, on `scale`."""
    x = [(s + min(s + 1, series.duration_s)) / 2 for s in series.second]  # a second's figure at its middle
    colors = balancer_colors(scale)
    latency = {"p50": (P50_COLOR, series.p50_ms), "p99": (P99_COLOR, series.p99_ms)}
    throughput = {"ok/s": (OK_COLOR, series.ok_per_s), "errors/s": (ERROR_COLOR, series.errors_per_s)}
    if series.offered_per_s is not None:
        throughput["offered/s"] = (OFFERED_COLOR, series.offered_per_s)
    connect = None
    if series.connect_p50_ms is not None:
        connect = svg_line_chart(
            x, {"p50": (P50_COLOR, series.connect_p50_ms)}, x_max=scale.seconds, y_max=scale.connect_ms,
            y_unit="ms (new connections)", markers=markers, value_unit=" ms",
        )  # fmt: skip
    shares = {host: (colors[host], values) for host, values in series.balancer_share.items()}
    return RunCharts(
        latency=svg_line_chart(
            x,
            latency,
            x_max=scale.seconds,
            y_max=scale.latency_ms,
            y_unit="ms (ok requests)",
            markers=markers,
            value_unit=" ms",
        ),
        throughput=svg_line_chart(
            x,
            throughput,
            x_max=scale.seconds,
            y_max=scale.rate,
            y_unit="requests per s",
            markers=markers,
            value_unit="",
        ),
        balancers=svg_stacked_area(series.second, shares, x_max=scale.seconds, markers=markers),
        p99_bin_s=series.p99_bin_s,
        connect=connect,
    )
