"""Who may join the farm: mutual TLS for the Dask cluster, and no plain TCP off loopback.

A Dask scheduler runs whatever its clients submit on every worker, and the workers own phones
and boards: whoever reaches a plain-TCP scheduler controls the farm. So:

- ``make_certs(DIR)`` (`harness farm certs DIR`) makes a private CA and a certificate + key for
  each role (scheduler, worker, client), signed by it. Dask's TLS requires a certificate from
  the CA on both ends of every connection (``ssl.CERT_REQUIRED``; host names are not checked:
  the CA is the farm's own, and farms are addressed by IP).
- ``security(role, DIR)`` is Dask's ``Security`` for that role, encryption required.
- ``check_address(address, insecure)``: a ``tcp://`` (or scheme-less) address that is not
  loopback is refused (UserError, exit 2) unless ``insecure``; ``tls://`` needs a certificate folder.

Copy DIR to each farm host (its ``ca.key`` stays with whoever makes new certificates; the roles
need only ``ca.pem`` and their own pair). Keys are written 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import UserError

ROLES = ("scheduler", "worker", "client")
CA_CERT, CA_KEY = "ca.pem", "ca.key"
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def default_dir() -> Path:
    """Where `harness farm certs` writes and the farm commands look when no --tls is given."""
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "harness" / "tls"


def cert_paths(directory: str | os.PathLike[str], role: str) -> tuple[Path, Path]:
    base = Path(directory)
    return base / f"{role}.pem", base / f"{role}.key"


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write with the mode set at creation (no umask games), replacing atomically."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def make_certs(directory: str | os.PathLike[str], *, hosts: Sequence[str] = (), days: int = 825,
               overwrite: bool = False) -> dict[str, Path]:
    """A CA and one certificate + key per role in ``directory``; returns {name: path}. ``hosts``
    (names or IPs) go into the certificates' subject alternative names beside localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    out = Path(directory)
    if (out / CA_KEY).exists() and not overwrite:
        raise UserError(f"{out} already holds a CA ({CA_KEY}); certificates from a new CA would lock out every "
                        "host that has the old ones. Use another folder, or pass --overwrite.")
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    now = dt.datetime.now(dt.UTC)

    def key_pem(key: Any) -> bytes:
        return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"harness farm CA {socket.gethostname()}")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=days))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    written = {CA_CERT: out / CA_CERT, CA_KEY: out / CA_KEY}
    _write(out / CA_KEY, key_pem(ca_key), 0o600)
    _write(out / CA_CERT, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in ("localhost",)]
    names += [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.IPAddress(ipaddress.ip_address("::1"))]
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"harness farm {role}")]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .add_extension(x509.SubjectAlternativeName(names), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path, key_path = cert_paths(out, role)
        _write(key_path, key_pem(key), 0o600)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        written[cert_path.name] = cert_path
        written[key_path.name] = key_path
    return written


def security(role: str, directory: str | os.PathLike[str]) -> Any:
    """Dask's ``Security`` for ``role`` (scheduler | worker | client) from a `harness farm certs` folder."""
    from distributed.security import Security

    base = Path(directory)
    cert, key = cert_paths(base, role)
    missing = [p for p in (base / CA_CERT, cert, key) if not p.is_file()]
    if missing:
        raise UserError(f"{base} lacks {', '.join(p.name for p in missing)}: make the farm's certificates with "
                        f"`harness farm certs {base}` and copy the folder to each farm host.")
    kwargs = {"tls_ca_file": str(base / CA_CERT), f"tls_{role}_cert": str(cert), f"tls_{role}_key": str(key)}
    return Security(require_encryption=True, **kwargs)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_address(address: str) -> tuple[str, str]:
    """``tls://10.0.0.5:8786`` -> (``tls``, ``10.0.0.5``); a scheme-less address is Dask's tcp."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    host = rest.rsplit(":", 1)[0] if rest.count(":") == 1 or rest.startswith("[") else rest
    return scheme.lower(), host.strip("[]")


def check_address(address: str, *, tls_dir: str | os.PathLike[str] | None, insecure: bool, what: str) -> Path | None:
    """The certificate folder to use for ``address`` (None for plain TCP), or UserError: plain TCP
    off loopback without ``insecure``, or TLS without certificates."""
    scheme, host = split_address(address)
    if scheme == "tls":
        folder = Path(tls_dir) if tls_dir else default_dir()
        if not (folder / CA_CERT).is_file():
            raise UserError(f"{what} {address} is TLS but {folder} has no {CA_CERT}: make the farm's certificates "
                            "with `harness farm certs DIR` and pass --tls DIR.")
        return folder
    if scheme != "tcp":
        raise UserError(f"{what} {address}: harness speaks tls:// (or tcp:// on loopback) to Dask schedulers.")
    if not is_loopback(host) and not insecure:
        raise UserError(f"{what} {address} is plain TCP off this host: anyone who reaches it can run code on every "
                        "farm host and its devices. Use tls:// with `harness farm certs DIR` and --tls DIR, or pass "
                        "--insecure on a network you trust.")
    return Path(tls_dir) if tls_dir else None
