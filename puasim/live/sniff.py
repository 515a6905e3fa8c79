"""A concurrent capture on the loopback interface with scapy's ``AsyncSniffer``.

On Linux ``lo`` every datagram passes the packet socket twice (once
outgoing, once incoming).  The BPF filter ``inbound and udp and (port …)``
keeps one copy; compiling it needs libpcap (Debian ``libpcap0.8``).  When
the filter cannot be compiled the capture falls back to a Python-side filter:
UDP on one of the ports, and a frame identical to the one just before it
(within 5 ms) is taken as the second copy and dropped.

Capturing needs the right to open a packet socket (root or CAP_NET_RAW);
:meth:`LoopbackCapture.start` raises :class:`CaptureUnavailable` otherwise.
Every wait is bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["CaptureUnavailable", "LoopbackCapture"]

ARPHRD_LOOPBACK = 772


class CaptureUnavailable(RuntimeError):
    """No packet capture here (no scapy, no permission, no such interface)."""


class LoopbackCapture:
    """Capture the UDP traffic of some ports on ``iface`` while a live run goes on."""

    def __init__(self, ports: Iterable[int], iface: str = "lo") -> None:
        self.ports = sorted(set(int(p) for p in ports))
        if not self.ports:
            raise ValueError("give at least one UDP port to capture")
        self.iface = iface
        self.packets: list[Any] = []
        self.python_filter = False
        self._sniffer: Any = None
        self._last: tuple[bytes, float] | None = None

    def _bpf(self) -> str:
        ports = " or ".join(f"port {p}" for p in self.ports)
        return f"inbound and udp and ({ports})"

    def _keep(self, pkt: Any) -> bool:
        """Python-side filter (no libpcap): UDP on our ports, second loopback copy dropped."""
        from scapy.layers.inet import UDP

        udp = pkt.getlayer(UDP)
        if udp is None or (udp.sport not in self.ports and udp.dport not in self.ports):
            return False
        raw = bytes(pkt)
        ts = float(pkt.time)
        last = self._last
        self._last = (raw, ts)
        return not (last is not None and last[0] == raw and ts - last[1] < 0.005)

    def start(self, timeout: float = 3.0, settle: float = 0.2) -> None:
        """Start sniffing; returns once the socket is open (bounded by ``timeout``)."""
        try:
            import scapy.layers.inet  # noqa: F401 - binds IP/UDP under Ether
            import scapy.layers.inet6  # noqa: F401
            from scapy.config import conf
            from scapy.layers.l2 import Ether
            from scapy.sendrecv import AsyncSniffer
        except ImportError as exc:  # pragma: no cover - scapy is the capture extra
            raise CaptureUnavailable(f"capturing needs scapy: {exc}") from None
        # Linux lo is ARPHRD_LOOPBACK (772) with Ethernet framing; without this
        # scapy hands out Raw packets (and warns)
        if ARPHRD_LOOPBACK not in conf.l2types.num2layer:
            conf.l2types.register(ARPHRD_LOOPBACK, Ether)
        for use_bpf in (True, False):
            ready = threading.Event()
            kwargs: dict[str, Any] = {"iface": self.iface, "store": True, "started_callback": ready.set}
            if use_bpf:
                kwargs["filter"] = self._bpf()
            else:
                kwargs["lfilter"] = self._keep
                self.python_filter = True
            sniffer = AsyncSniffer(**kwargs)
            try:
                sniffer.start()
            except Exception as exc:  # noqa: BLE001 - scapy raises many kinds here
                raise CaptureUnavailable(f"cannot capture on {self.iface}: {exc}") from None
            if ready.wait(timeout):
                self._sniffer = sniffer
                time.sleep(settle)
                return
            # the thread died before the socket was up: filter compilation or permission
            err = getattr(sniffer, "exception", None)
            try:
                if sniffer.running:
                    sniffer.stop()
            except Exception:  # noqa: BLE001
                pass
            if not use_bpf:
                raise CaptureUnavailable(f"cannot capture on {self.iface}: {err or 'sniffer did not start'}")

    def stop(self, settle: float = 0.2) -> list[Any]:
        """Stop (after ``settle`` seconds for the last packets) and return the packets."""
        if self._sniffer is None:
            return self.packets
        time.sleep(settle)
        try:
            result = self._sniffer.stop()
        except Exception:  # noqa: BLE001 - a sniffer that already died
            result = getattr(self._sniffer, "results", None)
        self._sniffer = None
        self.packets = list(result or [])
        return self.packets

    def write(self, path: str | Path) -> int:
        """Write the captured packets as a classic pcap; returns the count."""
        from scapy.utils import wrpcap

        wrpcap(str(path), self.packets, linktype=1)  # lo on Linux: Ethernet framing
        return len(self.packets)
