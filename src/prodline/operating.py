"""What an operator names on the command line: an asset by its key as the UI shows it, and dates that
become that asset's partitions. Shared by `prodline backfill` and `prodline test`."""

import datetime as dt
import difflib
from dataclasses import dataclass

import dagster as dg


class OperatorError(ValueError):
    """A command cannot do what it was asked; the message says why and what would work."""


@dataclass(frozen=True)
class Named:
    key: dg.AssetKey
    partitions: dg.PartitionsDefinition | None

    @property
    def name(self) -> str:
        return self.key.to_user_string()


def find_asset(graph, name: str) -> Named:
    """The asset `name` (`raw/registrations`, `cohort`; its table name `raw.registrations` too),
    or an OperatorError listing the closest names."""
    keys = {k.to_user_string(): k for k in graph.materializable_asset_keys}
    tables = {graph.get(k).metadata.get("dagster/table_name"): k for k in keys.values()}
    key = keys.get(name.strip()) or tables.get(name.strip())
    if key is None:
        close = difflib.get_close_matches(name, list(keys), n=4, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else f"the assets are {', '.join(sorted(keys))}"
        raise OperatorError(f"no asset {name!r}: {hint}")
    return Named(key, graph.get(key).partitions_def)


def describe(named: Named, store: dg.DagsterInstance | None = None) -> str:
    """The asset's partitions in words: `daily partitions from 2024-01-01 to 2024-12-31`."""
    partitions = named.partitions
    if partitions is None:
        return f"{named.name} is not partitioned"
    keys = partitions.get_partition_keys(dynamic_partitions_store=store)
    if isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        cadence = partitions.schedule_type.value.lower() if partitions.schedule_type else "time-window"
        span = f" from {keys[0]} to {keys[-1]}" if keys else " (none exist yet)"
        return f"{named.name} has {cadence} partitions{span}"
    span = f" ({keys[0]} .. {keys[-1]})" if keys else " (none exist yet)"
    return f"{named.name} has {len(keys)} split partition(s){span}, keyed by split time"


def keys_between(named: Named, first: dt.date, last: dt.date,
                 store: dg.DagsterInstance | None = None) -> list[str]:
    """The asset's partitions whose date lies in first..last, in the partitions' order: days,
    as-of dates (a range of any dates maps to the as-of dates inside it), or splits by their time."""
    if first > last:
        raise OperatorError(f"--from {first} is after --to {last}")
    if named.partitions is None:
        raise OperatorError(f"{named.name} is not partitioned: a date range selects nothing of it "
                            "(it is materialized whole, from the UI or its job)")
    keys = [k for k in named.partitions.get_partition_keys(dynamic_partitions_store=store)
            if first <= _date_of(k) <= last]
    if not keys:
        raise OperatorError(f"{first} .. {last} holds no partition of {named.name}: "
                            f"{describe(named, store)}")
    return keys


def key_for(named: Named, text: str, store: dg.DagsterInstance | None = None) -> str | None:
    """The one partition `text` names (a partition key, or the date of a split), None for an
    unpartitioned asset; an OperatorError names the nearest partitions when it is none."""
    if named.partitions is None:
        return None
    keys = named.partitions.get_partition_keys(dynamic_partitions_store=store)
    if text in keys:
        return text
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise OperatorError(f"--date {text!r}: write a date as YYYY-MM-DD") from None
    found = [k for k in keys if _date_of(k) == day]
    if len(found) == 1:
        return found[0]
    if found:
        raise OperatorError(f"{day} names {len(found)} partitions of {named.name} "
                            f"({', '.join(found)}): give one of them")
    before = [k for k in keys if _date_of(k) < day][-1:]
    after = [k for k in keys if _date_of(k) > day][:1]
    nearest = " and ".join(before + after)
    raise OperatorError(f"{day} is not a partition of {named.name}: {describe(named, store)}"
                        + (f"; the nearest are {nearest}" if nearest else ""))


def _date_of(key: str) -> dt.date:
    """A partition's date: the key itself, or a split key's leading split time (`2024-06-01_tl6m`)."""
    return dt.date.fromisoformat(key[:10])


def runs_of(named: Named, keys: list[str], store: dg.DagsterInstance | None = None) -> list[list[str]]:
    """`keys` as contiguous ranges of the asset's partition order: a range run covers everything
    between its ends, and a config with several split settings interleaves their times."""
    order = {k: i for i, k in enumerate(named.partitions.get_partition_keys(dynamic_partitions_store=store))}
    chunks: list[list[str]] = []
    for key in keys:
        if chunks and order[key] == order[chunks[-1][-1]] + 1:
            chunks[-1].append(key)
        else:
            chunks.append([key])
    return chunks
