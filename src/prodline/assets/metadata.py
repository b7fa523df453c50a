"""What the UI shows beside an asset: markdown tables and embedded pictures."""

import base64

import dagster as dg

from prodline.pipeline.markdown import table


def markdown(text: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(text)


def markdown_table(rows: list[dict]) -> dg.MetadataValue:
    return dg.MetadataValue.md(table(rows))


def png(picture: bytes, alt: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(picture).decode()})")
