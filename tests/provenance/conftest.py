"""Fixtures shared by the provenance tests."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import require_tool

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"


# One token directory for the whole session: libsofthsm2 reads SOFTHSM2_CONF once per process, so a
# second token directory made later in the same pytest worker would be invisible to it.
@pytest.fixture(scope="session")
def softhsm(tmp_path_factory):
    """A SoftHSM2 token 'radtrust' (PIN from a file) holding the RSA and ECDSA signer keys."""
    util = require_tool("softhsm2-util")
    if not os.path.exists(SOFTHSM):
        pytest.skip("libsofthsm2 not installed (Debian softhsm2)")
    d = tmp_path_factory.mktemp("softhsm")
    (d / "tokens").mkdir()
    conf = d / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {d / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    run = lambda *a: subprocess.run([util, *a], check=True, capture_output=True, timeout=60)  # noqa: E731
    run("--init-token", "--free", "--label", "radtrust", "--pin", "1234", "--so-pin", "5678")
    yield d, run
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old
