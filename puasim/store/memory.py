"""db_mode 0 record store: the hash table is the live store (pua-reference §2.3, §2.5).

The PUA model talks to its store through the look-ups Kamailio performs; in
db_mode 0 they are hash-table searches and every write is in memory (the
periodic SQL flush is the separate DB-sync of §5.5).
"""

from __future__ import annotations

from collections.abc import Iterator

from puasim.store.hashtable import HashTable
from puasim.store.record import PuaRecord

INSERTDB, NO_UPDATEDB, UPDATEDB = 4, 1, 2


class MemoryStore:
    """The hash table with the operations of pua's db_mode 0 code paths."""

    db_mode = 0

    def __init__(self, size: int = 512, check_remote_contact: int = 1) -> None:
        self.table = HashTable(size)
        self.check_remote_contact = check_remote_contact

    # publications (§3.2, §3.8)
    def find_publication(self, *, pres_uri: str, flag: int, event: int, id: str, etag: str) -> PuaRecord | None:
        return self.table.search(pres_uri=pres_uri, flag=flag, event=event, id=id, etag=etag)

    def bump_version(self, rec: PuaRecord) -> None:
        """The version lives in the record itself in db_mode 0."""

    def delete_publication(self, *, pres_uri: str, flag: int, event: int, id: str, etag: str) -> list[PuaRecord]:
        """§3.8 rows 3/6: delete the first record matching the reply key (B7: any, without etag)."""
        rec = self.find_publication(pres_uri=pres_uri, flag=flag, event=event, id=id, etag=etag)
        if rec is None:
            return []
        self.table.delete(rec)
        return [rec]

    def update_publication(self, key: dict, etag: str, expires: int, desired: int) -> PuaRecord | None:
        """§3.8 row 7 / ``update_htable`` (§2.5.5): new etag, expiry and desired time."""
        rec = self.find_publication(**key)
        if rec is None:
            return None
        rec.etag = etag
        rec.expires = expires
        rec.desired_expires = desired
        if rec.db_flag == NO_UPDATEDB:
            rec.db_flag = UPDATEDB
        return rec

    # dialogs (§4.3, §4.6)
    def find_dialog_for_subscribe(
        self, *, pres_uri: str, watcher_uri: str, flag: int, event: int, id: str, remote_target: str | None
    ) -> PuaRecord | None:
        return self.table.search(
            pres_uri=pres_uri,
            watcher_uri=watcher_uri,
            flag=flag,
            event=event,
            id=id,
            remote_target=remote_target,
            check_remote_contact=self.check_remote_contact,
        )

    def get_dialog(self, **key: str | int) -> PuaRecord | None:
        return self.table.get_dialog(**key)  # type: ignore[arg-type]

    def get_temporary_dialog(self, **key: str) -> PuaRecord | None:
        return self.table.get_temporary_dialog(**key)

    def delete_dialog(self, *, pres_uri: str, watcher_uri: str, call_id: str, from_tag: str, to_tag: str = "") -> list[PuaRecord]:
        """§4.6 rows 2/4/6/7: delete the record with this Call-ID and From-tag."""
        rec = self.table.get_temporary_dialog(pres_uri=pres_uri, watcher_uri=watcher_uri, call_id=call_id, from_tag=from_tag)
        if rec is None:
            return []
        self.table.delete(rec)
        return [rec]

    def update_dialog(
        self, key: dict, *, expires: int, desired: int, reply_cseq: int, remote_contact: str
    ) -> PuaRecord | None:
        """§4.6 row 9: the dialog found by ``get_dialog`` takes the 2xx's values."""
        rec = self.table.get_dialog(**key)
        if rec is None:
            return None
        rec.expires = expires
        rec.desired_expires = desired
        rec.cseq += 1
        if remote_contact != rec.remote_contact:
            rec.remote_contact = remote_contact
        if rec.db_flag == NO_UPDATEDB:
            rec.db_flag = UPDATEDB
        return rec

    def convert_temporary(self, temp_key: dict, new: PuaRecord) -> PuaRecord | None:
        """§4.7: replace the temporary record (searched in the reply's bucket) by ``new``."""
        temp = self.table.get_temporary_dialog(**temp_key)
        if temp is None:
            return None
        self.table.delete(temp)
        new.db_flag = INSERTDB
        self.table.insert(new)
        return temp

    # generic
    def insert(self, rec: PuaRecord) -> None:
        self.table.insert(rec)

    def delete(self, rec: PuaRecord) -> None:
        self.table.delete(rec)

    def records(self) -> Iterator[PuaRecord]:
        return iter(self.table)

    def __len__(self) -> int:
        return len(self.table)
