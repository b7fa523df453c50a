"""The import's report: every key of the Triage config, what it became, and what could not be
carried over and why; printed as a rich table."""

import re
from dataclasses import dataclass, field

from rich import box
from rich.markup import escape
from rich.table import Table


@dataclass
class Row:
    """One key of the input (or one thing the import wrote), as the report shows it."""

    key: str  # the Triage key path as written: feature_aggregations[0], grid_config.<class>
    became: str  # the native key path, or the file written
    notes: list[str] = field(default_factory=list)  # what the user should know
    refused: list[str] = field(default_factory=list)  # what was not carried over, and why
    owns: tuple[str, ...] = ()  # native keys whose problems belong here (prodline's own keys)

    @property
    def status(self) -> str:
        return "refused" if self.refused else "note" if self.notes else "ok"


_INDEX = re.compile(r"\.(\d+)(?=[.\s]|$)")


def bracketed(path: str) -> str:
    """A key path with list positions as Triage's users write them: features.2.metrics ->
    features[2].metrics."""
    return _INDEX.sub(r"[\1]", path)


def attach(rows: list[Row], problems: list[str], label: str) -> list[str]:
    """Each problem (`<label>: key.path (line n): message`) added to the row of the longest key it
    falls under; the ones no row takes are returned."""
    left = []
    for problem in problems:
        text = problem.removeprefix(f"{label}: ")
        head, _, message = text.partition(": ")
        path = bracketed(head.split(" (line ")[0])
        shown = f"{bracketed(head)}: {message}" if message else text
        owners = [r for r in rows if any(path == k or path.startswith((f"{k}.", f"{k}["))
                                         for k in (r.key, *r.owns))]
        if owners:
            max(owners, key=lambda r: len(r.key)).refused.append(shown)
        else:
            left.append(shown)
    return left


def table_of(rows: list[Row], title: str) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, show_lines=False, expand=False)
    table.add_column("Triage key", no_wrap=True, style="bold")
    table.add_column("became", overflow="fold")
    table.add_column("", no_wrap=True)
    table.add_column("not carried over / notes", overflow="fold")
    for row in rows:
        mark = {"ok": "[green]ok[/green]", "note": "[yellow]note[/yellow]",
                "refused": "[red]refused[/red]"}[row.status]
        said = [f"[red]{escape(r)}[/red]" for r in row.refused] + [escape(n) for n in row.notes]
        table.add_row(escape(row.key), escape(row.became), mark, "\n".join(said))
    return table
