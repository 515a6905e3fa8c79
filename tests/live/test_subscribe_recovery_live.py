"""A fresh real capture of pua's re-SUBSCRIBE after a failed un-SUBSCRIBE (pua-reference §4.6.1,
§10 B5), made now by ``subscribe_recovery_lab_driver`` against the installed Kamailio and
checked with ``puasim check``: the stored captures must not be the only evidence."""

from __future__ import annotations

import shutil

import pytest

from puasim.capture.check import check_capture

from . import subscribe_recovery_lab_driver as driver

pytestmark = pytest.mark.live


def test_a_fresh_capture_of_the_unsubscribe_recovery_agrees_with_the_model(kamailio: str, can_capture: None,
                                                                           tmp_path) -> None:
    if shutil.which("dumpcap") is None:
        pytest.skip("dumpcap is not installed (Debian package tshark or wireshark-common)")
    driver.run_flow("unsubscribe", tmp_path)
    name, _, _ = driver.FLOWS["unsubscribe"]
    report = check_capture(str(tmp_path / f"{name}.pcap"), pua_port=driver.PUA[1],
                           params=driver.PUA_PARAMS, until=36)
    assert report.ok, report.format()
    assert [r.kind for r in report.rows] == ["subscribe", "unsubscribe", "recovery"]
    assert report.rows[2].real is not None and report.rows[2].real.get("Expires") == "13"
    assert (tmp_path / f"{name}.txt").read_text().count("SUBSCRIBE sip:") == 3
