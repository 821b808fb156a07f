"""``csms ca init | show``: the CA and server certificate files an operator makes and looks
at (no server needed), and a server started with them serving wss beside ws."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from csms.cli import main
from csms.config import ConfigError, Settings
from csms.domain.charging.stations import add_charger
from csms.domain.security.ca import ca_files
from csms.server import running_server
from tests.gateway.conftest import NOW, PASSWORD, RawCharger, basic_auth
from tests.pki import client_context, make_ca, make_leaf


def _csms(home: Path, *args: str, **env: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err, env={"CSMS_HOME": str(home), **env})
    return code, out.getvalue(), err.getvalue()


def test_init_says_where_the_files_are_and_what_to_do_next(tmp_path: Path) -> None:
    code, out, err = _csms(tmp_path, "ca", "init", "--hostname", "csms.example.com")
    assert (code, err) == (0, "")
    files = ca_files(tmp_path)
    for path in (files.ca_cert, files.ca_key, files.server_cert, files.server_key):
        assert path.is_file() and str(path) in out
    assert "restart" in out and "CSMS_OCPP_TLS_PORT (9443)" in out
    assert "CSMS root certificate" in out and "CSMSRootCertificate" in out
    assert "csms.example.com" in out


def test_init_refuses_to_replace_a_ca_unless_forced(tmp_path: Path) -> None:
    assert _csms(tmp_path, "ca", "init")[0] == 0
    ca_before = ca_files(tmp_path).ca_cert.read_bytes()
    code, out, err = _csms(tmp_path, "ca", "init")
    assert code == 1 and out == ""
    assert "a CA already exists" in err and "--force" in err and "--server-only" in err
    assert ca_files(tmp_path).ca_cert.read_bytes() == ca_before
    assert _csms(tmp_path, "ca", "init", "--force")[0] == 0
    assert ca_files(tmp_path).ca_cert.read_bytes() != ca_before


def test_init_server_only_keeps_the_ca_and_renews_the_server_certificate(tmp_path: Path) -> None:
    assert _csms(tmp_path, "ca", "init")[0] == 0
    files = ca_files(tmp_path)
    ca_before, server_before = files.ca_cert.read_bytes(), files.server_cert.read_bytes()
    code, out, _ = _csms(tmp_path, "ca", "init", "--server-only", "--hostname", "new.example.com")
    assert code == 0 and "new.example.com" in out and "CA key" not in out
    assert files.ca_cert.read_bytes() == ca_before
    assert files.server_cert.read_bytes() != server_before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hostname", "bad name"], "give a DNS name"),
        (["--days", "0"], "--days: 0 must be from 1"),
        (["--days", "many"], "is not a number of days"),
        (["--force", "--server-only"], "not allowed with argument"),
    ],
)
def test_init_with_bad_arguments_is_a_usage_error(
    tmp_path: Path, args: list[str], message: str
) -> None:
    code, _, err = _csms(tmp_path, "ca", "init", *args)
    assert code == 2 and message in err
    assert not ca_files(tmp_path).ca_cert.exists()


def test_show_prints_subject_fingerprint_and_expiry_of_each_certificate(tmp_path: Path) -> None:
    _csms(tmp_path, "ca", "init", "--days", "30")
    code, out, _ = _csms(tmp_path, "ca", "show")
    assert code == 0
    assert "CA:" in out and "server:" in out
    assert "CN=csms charging-station CA,O=csms" in out and "CN=localhost,O=csms" in out
    assert "(in 29 days)" in out or "(in 30 days)" in out
    code, out, _ = _csms(tmp_path, "ca", "show", "--json")
    rows = json.loads(out)
    assert [row["role"] for row in rows] == ["ca", "server"]
    assert all(len(row["fingerprint"].split(":")) == 32 for row in rows)
    assert rows[1]["in_use"] is True and rows[1]["names"] == ["localhost", "127.0.0.1"]


def test_show_names_the_configured_certificate_as_the_one_served(tmp_path: Path) -> None:
    _csms(tmp_path, "ca", "init")
    ca = make_ca("Operator CA")
    cert, key = make_leaf(ca, "csms.example.com", usage="server").write(tmp_path, "own")
    code, out, _ = _csms(
        tmp_path, "ca", "show", "--json", CSMS_TLS_CERT=str(cert), CSMS_TLS_KEY=str(key)
    )
    assert code == 0
    served = {row["role"]: row["in_use"] for row in json.loads(out)}
    assert served == {"ca": None, "server": False, "configured": True}


def test_show_without_a_ca_says_how_to_make_one(tmp_path: Path) -> None:
    code, out, _ = _csms(tmp_path, "ca", "show")
    assert code == 0 and "run `csms ca init`" in out
    assert json.loads(_csms(tmp_path, "ca", "show", "--json")[1]) == []


# -- the server with the files -------------------------------------------------------


async def test_server_started_after_ca_init_serves_wss_beside_ws(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(tls_port=0)
    assert _csms(settings.home, "ca", "init")[0] == 0
    async with running_server(settings) as server:
        assert server.ocpp_tls_url == f"wss://localhost:{server.ocpp_tls_port}/ocpp"
        assert server.ocpp_tls_port != server.ocpp_port
        assert server.db is not None
        await server.db.write(
            lambda uow: add_charger(
                uow, charger_id="CP2", now=NOW, password=PASSWORD, security_profile=2
            )
        )
        context = client_context(trust=ca_files(settings.home).ca_cert)
        async with connect(
            f"{server.ocpp_tls_url}/CP2",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth("CP2", PASSWORD),
            ssl=context,
        ) as ws:
            answer: list[Any] = await RawCharger(ws).boot()
            assert answer[2]["status"] == "Accepted"
            assert server.router.connections["CP2"].security_profile == 2


async def test_server_without_a_certificate_has_no_wss_listener(
    settings_factory: Callable[..., Settings],
) -> None:
    async with running_server(settings_factory(tls_port=0)) as server:
        assert server.ocpp_tls_port is None and server.ocpp_tls_url is None


async def test_server_with_a_damaged_certificate_refuses_to_start_naming_it(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(tls_port=0)
    _csms(settings.home, "ca", "init")
    ca_files(settings.home).server_key.write_text("damaged")
    with pytest.raises(ConfigError) as caught:
        async with running_server(settings):
            pass
    assert caught.value.key == str(ca_files(settings.home).server_key)
