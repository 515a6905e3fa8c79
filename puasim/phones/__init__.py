"""Simulated SIP phones: sans-IO user agents that register through the transaction layer."""

from puasim.phones.phone import Phone, PhoneConfig

__all__ = ["Phone", "PhoneConfig"]
