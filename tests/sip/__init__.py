"""Tests of puasim.sip: framing, URIs, typed header fields and their properties."""
