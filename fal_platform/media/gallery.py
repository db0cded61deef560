"""A bounded gallery of generated files as markdown: a few thumbnails, the rest as links.

A materialization's preview must stay small whatever the prompt set's size: at most
`PREVIEW_IMAGES` thumbnails (`media/thumbnails.py`), then at most `PREVIEW_LINKS` links, then a
count. An image whose thumbnail could not be made is linked, never shown at full size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from fal_platform.batch.rows import MediaRow
from fal_platform.media.archive_table import ArchiveRow, ArchiveStatus
from fal_platform.media.thumbnails import MAX_SOURCE_BYTES, load_thumbnails, thumbnails_of

PREVIEW_IMAGES = 8
PREVIEW_LINKS = 12
LABEL_CHARS = 40


@dataclass(frozen=True)
class GalleryItem:
    label: str
    url: str
    media_kind: str


def truncate(text: str, limit: int) -> str:
    """One line of at most `limit` characters, an ellipsis marking a cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def _label(text: str) -> str:
    return truncate(text, LABEL_CHARS).replace("[", "(").replace("]", ")").replace("|", "/")


def _is_http(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def link(item: GalleryItem) -> str:
    """A markdown link to the file; inline `data:` files (often megabytes) get no link."""
    if _is_http(item.url):
        return f"[{_label(item.label)}]({item.url})"
    return _label(item.label)


def gallery_markdown(items: Sequence[GalleryItem], thumbnails: Mapping[str, str]) -> str:
    """Thumbnails (`thumbnails`: data URI by URL) of the first images, each linking to its
    file; links to the next files, other kinds before images; a count of the rest."""
    images = [item for item in items if item.media_kind == "image" and item.url in thumbnails]
    shown = images[:PREVIEW_IMAGES]
    shown_ids = {id(item) for item in shown}
    # files without a thumbnail (video, audio...) first: each kind gets a link before more images
    rest = sorted(
        (item for item in items if id(item) not in shown_ids),
        key=lambda item: item.media_kind == "image",
    )
    parts = []
    if shown:
        cells = " ".join(
            f"[![{_label(item.label)}]({thumbnails[item.url]})]({item.url})"
            if _is_http(item.url)
            else f"![{_label(item.label)}]({thumbnails[item.url]})"
            for item in shown
        )
        parts.append(cells)
    if rest:
        links = ", ".join(link(item) for item in rest[:PREVIEW_LINKS])
        more = len(rest) - PREVIEW_LINKS
        parts.append(links + (f" and {more} more" if more > 0 else ""))
    return "\n\n".join(parts)


def thumbnails_for(items: Sequence[GalleryItem]) -> dict[str, str]:
    """Fetches only the images a gallery can show (a few, never the whole prompt set)."""
    images = [item.url for item in items if item.media_kind == "image"]
    return load_thumbnails(images[:PREVIEW_IMAGES])


def files_preview(rows: Sequence[MediaRow]) -> str:
    """The `media/files` preview: a few thumbnails, then links (fetches at most a few)."""
    items = [GalleryItem(row.file_name or row.item_key, row.url, row.media_kind) for row in rows]
    if not items:
        return "_No media in this prompt set._"
    thumbnails = thumbnails_for(items)
    images = sum(item.media_kind == "image" for item in items)
    header = f"{len(thumbnails)} of {images} images shown, {len(items)} files"
    return f"{header}\n\n{gallery_markdown(items, thumbnails)}"


def archive_preview(
    files: Sequence[MediaRow],
    archived: Sequence[ArchiveRow],
    read: Callable[[str], bytes | None],
) -> str:
    """The `media/archive` preview: thumbnails made from the archived copies (`read` gets a
    stored URI's bytes), so it shows the same after fal has deleted the files. Items are
    named by the stored URI, which is no web link: nothing on the page points at fal."""
    stored = {
        row.url: row
        for row in archived
        if row.status == ArchiveStatus.ARCHIVED and row.stored_uri is not None
    }
    items = [
        GalleryItem(file.file_name or file.item_key, uri, file.media_kind)
        for file in files
        if file.url in stored and (uri := stored[file.url].stored_uri)
    ]
    if not items:
        return "_Nothing archived in this prompt set._"
    small = {row.stored_uri for row in stored.values() if (row.bytes or 0) <= MAX_SOURCE_BYTES}
    images = [item.url for item in items if item.media_kind == "image"]
    thumbnails = thumbnails_of([uri for uri in images if uri in small][:PREVIEW_IMAGES], read)
    header = f"{len(thumbnails)} of {len(images)} archived images shown, {len(items)} files"
    return f"{header}\n\n{gallery_markdown(items, thumbnails)}"
