"""Record storage behind the PUA: the db_mode 0 hash table and SQL."""

from puasim.store.hashtable import HashTable, core_hash
from puasim.store.record import PuaRecord

__all__ = ["HashTable", "PuaRecord", "core_hash"]
