"""Companion modules that drive pua through its API: pua_rpc, pua_usrloc, ..."""
