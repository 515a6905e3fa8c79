"""Kamailio failure modes the model reproduces as errors.

:class:`KamailioCrash` lives in the store layer (a NULL tuple_id read at
start-up crashes Kamailio there too) and is re-exported here for the model.
"""

from puasim.store.errors import KamailioCrash, StoreError

__all__ = ["KamailioCrash", "StoreError"]
