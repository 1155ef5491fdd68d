"""Spotify Million Playlist Dataset loader (``mpd.slice.*.json``; user-provided).

Tracks are deduplicated by ``track_uri``; a track's text is its name, artist and album.
Playlists become collections and their names open-ended queries, split 8:1:1 by a
stable hash of the playlist id.
"""

from __future__ import annotations

import re
from pathlib import Path

from r4t.catalog.catalog import Catalog, Collection, Query
from r4t.data.records import ChangeCounts, field, hash_split, nonempty_list, read_json
from r4t.data.sources import catalogs
from r4t.errors import DataError


def _slice_start(path: Path) -> tuple[int, str]:
    """``mpd.slice.2000-2999.json`` -> (2000, name): slices in playlist order, so ``max_slices``
    takes the first N slices, not the first N file names sorted as text."""
    m = re.match(r"mpd\.slice\.(\d+)", path.name)
    return (int(m.group(1)) if m else -1, path.name)


@catalogs.register("mpd")
def mpd(path: str, max_slices: int | None = None) -> Catalog:
    """Spotify Million Playlist Dataset from mpd.slice.*.json files; user-provided, never downloaded."""
    root = Path(path)
    files = sorted(root.glob("mpd.slice.*.json"), key=_slice_start) if root.is_dir() else [root]  # 0, 1000, 2000, ... not 0, 1000, 10000
    if not files or not files[0].exists():
        raise DataError(f"mpd: no mpd.slice.*.json files under {root}")
    files = files[:max_slices] if max_slices else files
    index: dict[str, int] = {}
    ids: list[str] = []
    texts: list[str] = []
    artists: list[str] = []
    albums: list[str] = []
    collections, queries = [], []
    changes = ChangeCounts()
    sources: list[tuple[object, object]] = []  # (track_name, artist_name) each URI was first seen with
    for file in files:
        data = read_json(file)
        for n, pl in enumerate(field(data, "playlists", list, str(file))):
            pid = str(field(pl, "pid", int, f"{file} playlist #{n}"))
            where = f"{file} playlist {pid}"
            name = field(pl, "name", str, where)
            members = []
            for m, tr in enumerate(nonempty_list(pl, "tracks", where)):
                tw = f"{where} track #{m}"
                uri = field(tr, "track_uri", str, tw)
                if uri not in index:
                    index[uri] = len(ids)
                    ids.append(uri)
                    track, artist = field(tr, "track_name", str, tw), field(tr, "artist_name", str, tw)
                    album = field(tr, "album_name", str, tw, optional=True) or ""
                    texts.append(f"{track} by {artist}" + (f", from {album}" if album else ""))
                    artists.append(artist)
                    albums.append(album)
                elif (tr.get("track_name"), tr.get("artist_name")) != sources[index[uri]]:
                    changes.add("track URIs appeared again under another track or artist name (the first is kept)")
                if len(sources) < len(ids):
                    sources.append((tr.get("track_name"), tr.get("artist_name")))
                members.append(index[uri])
            cid = f"mpd-{pid}"
            # Split by the normalised name, so equal names never straddle splits; the
            # playlist goes with its query (a held-out name's playlist is never trained on).
            split = hash_split(name.strip().lower() or cid)
            unique = list(dict.fromkeys(members))
            changes.add("repeated tracks within a playlist were dropped", len(members) - len(unique))
            if not name.strip():
                changes.add("playlists had no name: titled by their id, and no query made from them")
            collections.append(Collection(cid=cid, title=name.strip() or cid, items=unique, split=split))
            if name.strip():
                queries.append(Query(qid=cid, text=name.strip(), split=split, kind="open"))
    return Catalog(
        name="mpd", domain="music", item_ids=ids, item_texts=texts,
        attributes={"artist": artists, "album": albums}, collections=collections, queries=queries,
        meta={"import_report": changes.report()},
    ).validate("mpd")
