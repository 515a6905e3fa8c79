"""The wire: pcap export of traces, pcap import, and conformance checks of real captures.

* :func:`export_pcap` — any trace to pcap/pcapng (fast, :mod:`struct`-built frames);
* :func:`read_pcap` — a capture's UDP SIP traffic to a trace (scapy's reader);
* :func:`check_capture` — a real PUA's capture against the model's predictions.
"""

from puasim.capture.check import CheckError, check_capture
from puasim.capture.compare import CheckReport, compare_flows, compare_requests, flow_of
from puasim.capture.pcap import PcapWriter, export_pcap, inet_checksum, udp_frame
from puasim.capture.reader import CaptureError, address_name, read_pcap

__all__ = [
    "CaptureError",
    "CheckError",
    "CheckReport",
    "check_capture",
    "compare_flows",
    "compare_requests",
    "flow_of",
    "PcapWriter",
    "address_name",
    "export_pcap",
    "inet_checksum",
    "read_pcap",
    "udp_frame",
]
