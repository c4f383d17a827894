"""A claim's rows grouped by point, with the mean and spread over seeds: what the verdicts, the figures and the
printed table (also in docs/claims.md) read."""

import statistics


def by_point(rows: list[dict]) -> dict[str, list[dict]]:
    """{point: its rows}, in the sweep's order."""
    groups = {}
    for row in rows:
        groups.setdefault(row["point"], []).append(row)
    return groups


def values(rows: list[dict], key: str) -> list[float]:
    """A metric over the seeds that measured it (a diverged run has no final metrics)."""
    return [row["metrics"][key] for row in rows if key in row["metrics"]]


def mean(rows: list[dict], key: str) -> float:
    return statistics.fmean(values(rows, key)) if values(rows, key) else float("nan")


def spread(rows: list[dict], key: str) -> float:
    """The standard deviation over seeds (0 for one seed)."""
    found = values(rows, key)
    return statistics.stdev(found) if len(found) > 1 else 0.0


def table(rows: list[dict], columns: dict[str, str]) -> str:
    """A Markdown table: a line per point, each column's mean +- standard deviation over its seeds."""
    heads = ["point", "seeds", *columns, "diverged", "time (s)"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for point, group in by_point(rows).items():
        cells = [f"{mean(group, key):.4g} ± {spread(group, key):.2g}" for key in columns.values()]
        time_s = statistics.fmean(row["time_s"] for row in group)
        diverged = sum(bool(row.get("diverged")) for row in group)
        lines.append(f"| {point} | {len(group)} | " + " | ".join(cells) + f" | {diverged} | {time_s:.0f} |")
    return "\n".join(lines)


def curve(rows: list[dict], tag: str) -> tuple[list[float], list[float], list[float], list[float]]:
    """A scalar's curve over the seeds of one point: steps, mean, min and max at the steps every seed logged."""
    series = [dict(map(tuple, row["curves"].get(tag, []))) for row in rows]
    steps = sorted(set.intersection(*(set(s) for s in series))) if series else []
    values = [[s[step] for s in series] for step in steps]
    return steps, [statistics.fmean(v) for v in values], [min(v) for v in values], [max(v) for v in values]


def plot_curve(axes, rows: list[dict], tag: str, label: str, transform=lambda v: v, **style) -> None:
    """The mean over seeds as a line, the seeds' range as a band; `transform` maps values (accuracy -> error)."""
    steps, middle, low, high = curve(rows, tag)
    line = axes.plot(steps, [transform(v) for v in middle], label=label, **style)[0]
    if len(rows) > 1:
        band = [transform(v) for v in low], [transform(v) for v in high]
        axes.fill_between(steps, *band, color=line.get_color(), alpha=0.2)


def first_step(rows: list[dict], tag: str, level: float) -> float | None:
    """The mean over seeds of the first logged step at which a scalar reached `level` (from below); None if a seed
    never did."""
    steps = [next((step for step, value in row["curves"].get(tag, []) if value >= level), None) for row in rows]
    return None if None in steps else sum(steps) / len(steps)


def plot_points(axes, xs: list, samples: list[list[float]], label: str) -> None:
    """A metric measured at each x over seeds (`samples`: the seeds' values at each x): the mean, joined, with the
    seeds' range as error bars."""
    samples = [found or [float("nan")] for found in samples]
    middle = [sum(found) / len(found) for found in samples]
    below = [m - min(found) for m, found in zip(middle, samples)]
    above = [max(found) - m for m, found in zip(middle, samples)]
    axes.errorbar(xs, middle, yerr=[below, above], marker="o", capsize=3, label=label)
