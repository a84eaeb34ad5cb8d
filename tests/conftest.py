import os
from pathlib import Path

import numpy as np
import pytest

from faceanim import demo
from faceanim.config import has_dataset


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return demo.astronaut()


@pytest.fixture(scope="session")
def mtcnn():
    from faceanim.face import create_detector

    return create_detector("mtcnn")


@pytest.fixture(scope="session")
def haar():
    from faceanim.face import create_detector

    return create_detector("haar")


def needs(*datasets: str):
    """Skip when a dataset is absent (CI sets FACEANIM_DATA, so there these tests always run)."""
    missing = [d for d in datasets if not has_dataset(d)]
    return pytest.mark.skipif(bool(missing), reason=f"datasets missing: {missing}; set FACEANIM_DATA")


@pytest.fixture(autouse=True, scope="session")
def _ci_has_data():
    # On CI the shared data must be there: a silently skipped data test would hide a broken loader.
    if os.environ.get("CI") and not has_dataset("fer2013"):
        pytest.fail("CI=true but FACEANIM_DATA has no FER-2013; .ci/run must set FACEANIM_DATA=../shared/data")
    yield


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(autouse=True, scope="session")
def _private_keys(tmp_path_factory):
    # Tests never read or write the user's signing key: FACEANIM_KEYS points at an empty folder of the
    # session's (tests that sign make their own key there).
    old = os.environ.get("FACEANIM_KEYS")
    os.environ["FACEANIM_KEYS"] = str(tmp_path_factory.mktemp("keys") / "none")
    yield
    if old is None:
        os.environ.pop("FACEANIM_KEYS", None)
    else:
        os.environ["FACEANIM_KEYS"] = old


_LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::", ""}


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Nothing leaves the machine: any test that opens a connection to another host, or looks one up, fails
    (this machine's own names and addresses still work: the browser tests' driver, the kernels, dask's local
    cluster)."""
    import socket

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    local = set(_LOCAL)
    try:
        name = socket.gethostname()
        local |= {name, socket.getfqdn()}
        local |= {info[4][0] for info in real_getaddrinfo(name, None)}
    except OSError:
        pass

    def _is_local(host) -> bool:
        host = "" if host is None else str(host)
        return host in local or host.startswith("127.")

    def _check(address):
        if isinstance(address, tuple) and not _is_local(address[0]):
            raise OSError(f"network access blocked in tests: a connection to {address!r} was attempted "
                          "(faceanim must work offline)")

    def connect(self, address):
        _check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        _check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local(host if not isinstance(host, bytes) else host.decode()):
            raise socket.gaierror(f"network access blocked in tests: name lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo = getaddrinfo
    yield
    socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex
    socket.getaddrinfo = real_getaddrinfo
