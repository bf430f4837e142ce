"""The reports' charts as inline SVG geometry: paths, ticks, markers and bars computed here, so that the
templates only print them.

Time on the charts is seconds since the run's start (`meta.json` `started_us`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

import numpy as np

from reports.metrics import DISTRIBUTION_NINES, DISTRIBUTION_PERCENTILES, LatencyDistribution

CHART_WIDTH, CHART_HEIGHT = 640, 210
MARGIN_LEFT, MARGIN_TOP, MARGIN_RIGHT, MARGIN_BOTTOM = 52, 16, 12, 30
BAR_HEIGHT, BAR_LABEL_WIDTH = 18, 80
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#999999", "#000000")
P50_COLOR, P99_COLOR, OK_COLOR, ERROR_COLOR = "#0072b2", "#e69f00", "#009e73", "#d55e00"
OFFERED_COLOR = "#999999"
LATE_COLOR = "#e69f00"
PERCENTILE_MAX_X = 3.4  # where the percentile plot draws the largest latency, after p99.9 at 3
STRIP_ROW_HEIGHT, STRIP_LABEL_WIDTH = 14, 96


@dataclass(frozen=True)
class Series:
    """Per second of a run: p50 and p99 of ok latencies (None in a second without any), ok and failed
    requests per second, and each balancer's share of the ok requests (0 in a second without any); and
    the distribution of the ok latencies over the measured window: of the whole run, and of each workload
    and each client site when there are several."""

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
    distributions: dict[str, LatencyDistribution] = field(default_factory=dict)  # "all", workloads, sites


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
    fastest_ms: float = 1.0  # the lowest and highest latency of the percentile plot (log scale)
    slowest_ms: float = 1.0


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
    x_labels: list[str] | None = None  # what the readout prints for each x (None: the x itself, in x_unit)
    zoomable: bool = True  # False: hover only (an axis that is not time: the percentile plot)


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
    percentiles: Chart | None = None  # the latency distribution; None: no ok request in the measured window

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
    x_ticks: Sequence[tuple[float, str]] | None = None,
) -> Chart:
    """What every chart has (size, plot area, ticks on both axes and the event markers), and what it draws;
    the x ticks are 1-2-5 steps of the time axis unless given as (x, label)."""
    if x_ticks is None:
        x_ticks = [(t, _tick_label(t)) for t in nice_ticks(plot.x_max, 8) if t <= plot.x_max]
    return Chart(
        width=plot.width,
        height=plot.height,
        left=MARGIN_LEFT,
        top=MARGIN_TOP,
        right=plot.width - MARGIN_RIGHT,
        bottom=plot.height - MARGIN_BOTTOM,
        x_ticks=[XTick(plot.x(t), label) for t, label in x_ticks],
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


def second_middles(seconds: Sequence[float], end: float) -> list[float]:
    """Where a second's figure goes on the time axis: its middle (the last second's, cut short at `end`)."""
    return [(s + min(s + 1, end)) / 2 for s in seconds]


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
    middles = [round(m, 2) for m in second_middles(seconds, plot.x_max)]
    shares = [ReadoutSeries(name, color, _rounded([None if v is None else v * 100 for v in values], 1))
              for name, (color, values) in layers.items()]  # fmt: skip
    readout = Readout(middles, shares, "%", plot.x_max)
    return _chart(plot, y_ticks, labels, "share of ok requests", markers, areas=areas, legend=legend, readout=readout)


def log_ticks(low: float, high: float) -> tuple[float, float, list[float]]:
    """A log axis from the decade at or below `low` to the one at or above `high`: (bottom, top, ticks), the
    ticks at 1, 2 and 5 of each decade (at each decade only, over more than three)."""
    low = low if low > 0 else 0.001
    high = max(high, low)
    bottom = 10 ** math.floor(math.log10(low) + 1e-9)
    top = 10 ** math.ceil(math.log10(high) - 1e-9)
    if top <= bottom:
        top = bottom * 10
    decades = round(math.log10(top / bottom))
    steps = (1,) if decades > 3 else (1, 2, 5)
    ticks = [bottom * 10**d * m for d in range(decades + 1) for m in steps if bottom * 10**d * m <= top * (1 + 1e-9)]
    return bottom, top, [float(f"{t:.6g}") for t in ticks]


def percentile_label(percentile: float) -> str:
    return f"p{percentile:.4g}"


def svg_percentile_chart(
    nines: Sequence[float],
    percentiles: Sequence[float],
    lines: Mapping[str, tuple[str, Sequence[float] | None, float | None]],
    *,
    fastest_ms: float,
    slowest_ms: float,
    width: float = CHART_WIDTH,
    height: float = CHART_HEIGHT,
) -> Chart:
    """Latency against percentile, both on log scales: each line (name -> (colour, latency at each of
    `percentiles`, the largest)) at x = `nines` (-log10(1 - p)), its largest at PERCENTILE_MAX_X; the y
    axis from the decade below `fastest_ms` to the one above `slowest_ms`. A line without values is left
    out."""
    bottom, top, ticks = log_ticks(fastest_ms, slowest_ms)
    plot = Plot(width, height, PERCENTILE_MAX_X, math.log10(top / bottom))
    xs = [*nines, PERCENTILE_MAX_X]
    drawn = {name: (color, [*values, largest]) for name, (color, values, largest) in lines.items() if values}

    def logged(values: Sequence[float]) -> list[float | None]:
        return [None if v is None or v <= 0 else math.log10(max(v, bottom) / bottom) for v in values]

    x_ticks = [
        (0.0, "p0"),
        (math.log10(2), "p50"),
        (1.0, "p90"),
        (2.0, "p99"),
        (3.0, "p99.9"),
        (PERCENTILE_MAX_X, "max"),
    ]
    readout = Readout(
        [round(x, 3) for x in xs],
        [ReadoutSeries(name, color, _rounded(values, 3)) for name, (color, values) in drawn.items()],
        " ms",
        plot.x_max,
        "percentile",
        [*(percentile_label(p) for p in percentiles), "max"],
        zoomable=False,
    )
    return _chart(
        plot,
        [math.log10(t / bottom) for t in ticks],
        [_tick_label(t) for t in ticks],
        "ms (ok requests, log scale)",
        (),
        lines=[Shape(name, color, _polyline(plot, xs, logged(values))) for name, (color, values) in drawn.items()],
        legend=[LegendItem(name, color) for name, (color, _) in drawn.items()],
        readout=readout,
        x_unit="percentile (log scale of 1 - p)",
        x_ticks=x_ticks,
    )


@dataclass(frozen=True)
class StripRow:
    label: str
    y: float  # the row's top


@dataclass(frozen=True)
class StripMark:
    """One probe on a strip: from when it was due to its answer (or failure), coloured by how it went."""

    x: float
    y: float
    width: float
    color: str


@dataclass(frozen=True)
class StripGap:
    """The measured gap on a strip: where it is drawn, and its figure."""

    x: float
    width: float
    label: str


@dataclass(frozen=True)
class ProbeStrip:
    """The probes around one fault, a row per path: what its gap is measured from, zoomed in."""

    caption: str
    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    row_height: float
    rows: list[StripRow]
    marks: list[StripMark]
    x_ticks: list[XTick]
    fault_x: float
    gap: StripGap | None  # None: no gap measured

    @property
    def paths(self) -> list[Shape]:
        """The marks as the page draws them: one path per row and colour (a rectangle per probe in it), named
        with its row and how many probes it has; far smaller than a rectangle element per probe."""
        height = self.row_height - 4
        grouped: dict[tuple[float, str], list[StripMark]] = {}
        for mark in self.marks:
            grouped.setdefault((mark.y, mark.color), []).append(mark)
        names = {color: state for state, color in STRIP_COLORS.items()}
        rows = {round(r.y + 2, 1): r.label for r in self.rows}
        return [
            Shape(
                f"{rows.get(y, '')}: {len(marks)} {names.get(color, '')}",
                color,
                "".join(f"M{m.x},{m.y}h{m.width}v{height}h{-m.width}z" for m in marks),
            )
            for (y, color), marks in grouped.items()
        ]


@dataclass(frozen=True)
class StripProbe:
    """A probe as a strip draws it: its row, when it was due (s since the run's start), how long it took."""

    row: int
    t_s: float
    latency_s: float
    state: str  # "ok", "late" (ok after LATE_MS: it met the outage) or "failed"


STRIP_COLORS = {"ok": OK_COLOR, "late": LATE_COLOR, "failed": ERROR_COLOR}


def svg_probe_strip(
    caption: str,
    rows: Sequence[str],
    probes: Sequence[StripProbe],
    *,
    t0: float,
    t1: float,
    fault_t: float,
    gap: tuple[float, float, str] | None,
    width: float = CHART_WIDTH,
) -> ProbeStrip:
    """The probes due in `[t0, t1)` (s since the run's start) on a row each of `rows`, the fault at
    `fault_t` and the gap (from, to, label) shaded; a probe is at least 1.5 px wide, cut at `t1`."""
    height = MARGIN_TOP + len(rows) * STRIP_ROW_HEIGHT + MARGIN_BOTTOM
    left, right = STRIP_LABEL_WIDTH, width - MARGIN_RIGHT
    span = max(t1 - t0, 1e-3)

    def x(t: float) -> float:
        return round(left + (right - left) * (min(max(t, t0), t1) - t0) / span, 1)

    marks = [
        StripMark(
            x=x(p.t_s),
            y=MARGIN_TOP + p.row * STRIP_ROW_HEIGHT + 2,
            width=min(max(1.5, round(x(p.t_s + p.latency_s) - x(p.t_s), 1)), round(right - x(p.t_s), 1)),
            color=STRIP_COLORS[p.state],
        )
        for p in probes
        if t0 <= p.t_s < t1
    ]
    step = nice_ticks(span, 6)[1] if span > 0 else 1.0
    first = math.ceil(t0 / step) * step
    ticks = [first + i * step for i in range(int((t1 - first) / step + 1e-9) + 1)]
    return ProbeStrip(
        caption=caption,
        width=width,
        height=height,
        left=left,
        right=right,
        top=MARGIN_TOP,
        bottom=height - MARGIN_BOTTOM,
        row_height=STRIP_ROW_HEIGHT,
        rows=[StripRow(label, MARGIN_TOP + i * STRIP_ROW_HEIGHT) for i, label in enumerate(rows)],
        marks=marks,
        x_ticks=[XTick(x(t), f"{t:.6g}") for t in ticks],
        fault_x=x(fault_t),
        gap=None if gap is None else StripGap(x(gap[0]), max(1.0, round(x(gap[1]) - x(gap[0]), 1)), gap[2]),
    )


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
    distributions = series.distributions.values()
    return Scale(
        series.duration_s,
        max(latencies, default=1.0),
        max(rates, default=1.0),
        tuple(series.balancer_share),
        max(connects, default=1.0),
        min((d.percentiles_ms[0] for d in distributions), default=1.0),
        max((d.max_ms for d in distributions), default=1.0),
    )


def common_scale(scales: Sequence[Scale]) -> Scale:
    """Axes that fit every one of `scales`."""
    return Scale(
        max(s.seconds for s in scales),
        max(s.latency_ms for s in scales),
        max(s.rate for s in scales),
        tuple(sorted({b for s in scales for b in s.balancers})),
        max(s.connect_ms for s in scales),
        min(s.fastest_ms for s in scales),
        max(s.slowest_ms for s in scales),
    )


def balancer_colors(scale: Scale) -> dict[str, str]:
    return {host: PALETTE[i % len(PALETTE)] for i, host in enumerate(scale.balancers)}


def run_charts(series: Series, markers: Sequence[Marker], scale: Scale) -> RunCharts:
    """Latency, throughput and errors, and balancer shares per second, on `scale`."""
    x = second_middles(series.second, series.duration_s)
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
    percentiles = None
    if series.distributions:
        lines = {
            name: (PALETTE[i % len(PALETTE)], d.percentiles_ms, d.max_ms)
            for i, (name, d) in enumerate(series.distributions.items())
        }
        percentiles = svg_percentile_chart(
            DISTRIBUTION_NINES,
            DISTRIBUTION_PERCENTILES,
            lines,
            fastest_ms=scale.fastest_ms,
            slowest_ms=scale.slowest_ms,
        )
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
        percentiles=percentiles,
    )
