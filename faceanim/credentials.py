"""Signed content credentials (C2PA) on the files faceanim writes, with a key the user makes once.

``faceanim keys init`` makes a small certificate chain of the user's own (a local CA and a signing
certificate under it, ECDSA P-256) in :func:`key_dir` (``$FACEANIM_KEYS``, else
``~/.config/faceanim/keys``: never inside the repository, and the private key readable by its owner
only). From then on every MP4, AVI, GIF, PNG or JPEG the animator writes gets a C2PA manifest signed
with it (``c2pa-python``, offline): a ``c2pa.created`` action whose digital source type is
``trainedAlgorithmicMedia`` (IPTC's term for media a trained model made), the tool and its version.
Without a key nothing is signed and the output's record says so (the invisible watermark is on
either way). :func:`read_credentials` (``faceanim verify``) says whether a file's manifest is valid,
trusted (signed by this machine's key), invalid (the file or its manifest changed after signing) or
absent.

A key made here is not on any public trust list: other C2PA readers will call such a manifest valid
but its signer unknown, which is what it is. An organisation with a certificate from a C2PA-trusted
issuer can put that chain and key in the same folder (``signer.pem``: the chain, leaf first;
``signer.key``: PKCS#8 PEM).
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import FaceanimError, MediaError

__all__ = ["key_dir", "KeyInfo", "init_keys", "load_keys", "sign_file", "read_credentials", "CredentialVerdict",
           "SIGNABLE", "DIGITAL_SOURCE_TYPE"]

#: IPTC digital source type of media made by a trained model
DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
#: the formats c2pa-python signs here (measured: each signed, read back and still decodes)
SIGNABLE = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".mp4": "video/mp4",
            ".gif": "image/gif", ".avi": "video/x-msvideo"}
_CHAIN, _KEY, _CA = "signer.pem", "signer.key", "ca.pem"


def key_dir(directory: str | os.PathLike | None = None) -> Path:
    """Where the signing key lives: ``directory``, else ``$FACEANIM_KEYS``, else
    ``$XDG_CONFIG_HOME/faceanim/keys`` (``~/.config/faceanim/keys``)."""
    if directory is not None:
        return Path(directory).expanduser()
    if os.environ.get("FACEANIM_KEYS"):
        return Path(os.environ["FACEANIM_KEYS"]).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "faceanim" / "keys"


@dataclass
class KeyInfo:
    """A signing key on disk: its folder, the certificate's subject, validity and fingerprint."""

    directory: Path
    subject: str
    not_after: str
    fingerprint: str
    chain: bytes = field(repr=False, default=b"")
    key: bytes = field(repr=False, default=b"")
    ca: bytes = field(repr=False, default=b"")

    def line(self) -> str:
        return (f"signing key in {self.directory}: {self.subject}, valid until {self.not_after}, "
                f"SHA-256 {self.fingerprint[:16]}...")


def _inside_repo(path: Path) -> bool:
    from .config import REPO_ROOT

    try:
        path.resolve().relative_to(REPO_ROOT.resolve())
    except ValueError:
        return False
    return (REPO_ROOT / ".git").exists()


def _info(directory: Path, chain: bytes, key: bytes, ca: bytes) -> KeyInfo:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    leaf = x509.load_pem_x509_certificates(chain)[0]
    names = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return KeyInfo(directory=directory, subject=str(names[0].value) if names else leaf.subject.rfc4514_string(),
                   not_after=leaf.not_valid_after_utc.date().isoformat(),
                   fingerprint=leaf.fingerprint(hashes.SHA256()).hex(), chain=chain, key=key, ca=ca)


def init_keys(name: str = "faceanim user", directory: str | os.PathLike | None = None, years: int = 5,
              force: bool = False) -> KeyInfo:
    """Make the signing key once: a local CA and a signing certificate for ``name`` under it.

    A key already there is kept (``force=True`` moves it aside to ``keys.old-<time>`` first, so no key
    is ever lost); a folder inside the repository is refused (keys must not be committed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    if not str(name).strip() or len(str(name)) > 64:
        raise FaceanimError("give the key a name of 1 to 64 characters (who signs: a person or an organisation)")
    folder = key_dir(directory)
    if _inside_repo(folder):
        raise FaceanimError(f"{folder} is inside the faceanim repository; keep signing keys outside it "
                            "(the default is ~/.config/faceanim/keys, or set FACEANIM_KEYS)")
    if (folder / _KEY).exists():
        if not force:
            raise FaceanimError(f"a signing key already exists in {folder} ({load_keys(folder).subject}); it is "
                                "kept. Use --force to make a new one (the old one is moved aside, not deleted)")
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        folder.rename(folder.with_name(f"{folder.name}.old-{stamp}"))
    now = datetime.datetime.now(datetime.timezone.utc)
    until = now + datetime.timedelta(days=365 * years)

    def usage(sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=not sign,
                             crl_sign=not sign, encipher_only=False, decipher_only=False)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} (faceanim local CA)"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(until).add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, name)])
    leaf = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(until).add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(True), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    ca_pem = ca.public_bytes(pem)
    chain = leaf.public_bytes(pem) + ca_pem
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(folder / _KEY, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key_pem)
        (folder / _CHAIN).write_bytes(chain)
        (folder / _CA).write_bytes(ca_pem)
    except OSError as exc:
        raise MediaError(f"cannot write the signing key to {folder}: {exc.strerror or exc}; "
                         "choose another folder with FACEANIM_KEYS") from None
    return _info(folder, chain, key_pem, ca_pem)


def load_keys(directory: str | os.PathLike | None = None) -> KeyInfo | None:
    """The signing key in :func:`key_dir`, or None when none was made."""
    folder = key_dir(directory)
    if not (folder / _KEY).exists():
        return None
    try:
        chain, key = (folder / _CHAIN).read_bytes(), (folder / _KEY).read_bytes()
        ca = (folder / _CA).read_bytes() if (folder / _CA).exists() else b""
        return _info(folder, chain, key, ca)
    except (OSError, ValueError) as exc:
        raise FaceanimError(f"the signing key in {folder} cannot be read ({exc}); move the folder aside and run "
                            "`faceanim keys init` again") from None


def _manifest(path: Path, info: dict | None) -> str:
    from . import __version__

    agent = {"name": "faceanim", "version": __version__}
    action = {"action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE, "softwareAgent": agent}
    if info:
        action["parameters"] = {k: v for k, v in info.items() if isinstance(v, (str, int, float, bool))}
    return json.dumps({"claim_generator_info": [agent], "title": path.name,
                       "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}]})


def sign_file(path: str | os.PathLike, keys: KeyInfo, info: dict | None = None) -> dict:
    """Add a signed C2PA manifest to ``path`` in place, atomically (the signed copy replaces it only
    when signing succeeded). Returns what goes in the output's record."""
    import c2pa

    from ._atomic import atomic_path

    path = Path(path)
    mime = SIGNABLE.get(path.suffix.lower())
    if mime is None:
        return {"credentials": f"not signed: C2PA is not written to {path.suffix} files here"}
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=keys.chain,
                                                           private_key=keys.key, ta_url=None))
        with atomic_path(path) as tmp:
            with c2pa.Builder(_manifest(path, info)) as builder, open(path, "rb") as src, open(tmp, "wb") as dst:
                builder.sign(signer, mime, src, dst)
    except c2pa.C2paError as exc:
        raise MediaError(f"signing {path} failed ({exc}); the file is kept unsigned. Check the key with "
                         "`faceanim keys show`, or turn signing off (--no-sign)") from None
    return {"credentials": {"signed_by": keys.subject, "key": keys.fingerprint[:16]}}


@dataclass
class CredentialVerdict:
    """What a file's C2PA manifest says: ``state`` is ``trusted`` (valid, signed by this machine's
    key), ``valid`` (the signature holds but its signer is not known here), ``invalid`` (the file or
    the manifest changed after signing), ``absent`` or ``unreadable``; ``ai_generated`` when the
    manifest records a trained model as the source; ``issues`` the validation codes."""

    state: str
    signer: str = ""
    generator: str = ""
    ai_generated: bool = False
    issues: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"state": self.state, "signer": self.signer or None, "generator": self.generator or None,
                "ai_generated": self.ai_generated, "issues": self.issues}

    def line(self) -> str:
        if self.state in ("absent", "unreadable"):
            return f"credentials {self.state}" + (f" ({'; '.join(self.issues)})" if self.issues else "")
        who = f" by {self.signer}" if self.signer else ""
        what = ", made by a trained model" if self.ai_generated else ""
        tail = f" ({'; '.join(self.issues)})" if self.issues and self.state == "invalid" else ""
        return f"credentials {self.state}{who}{what}{tail}"


_UNTRUSTED = {"signingCredential.untrusted"}


def read_credentials(path: str | os.PathLike, keys: KeyInfo | None = None) -> CredentialVerdict:
    """Read and validate ``path``'s C2PA manifest (trusting this machine's own key, when there is one)."""
    import c2pa

    keys = keys if keys is not None else _quiet_keys()
    try:
        context = None
        if keys is not None and keys.ca:
            settings = c2pa.Settings.from_json(json.dumps({"trust": {"user_anchors": keys.ca.decode()}}))
            context = c2pa.Context(settings=settings)
        with c2pa.Reader(str(path), context=context) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError as exc:
        text = str(exc)
        if "ManifestNotFound" in type(exc).__name__ or "no JUMBF" in text or "NotFound" in text:
            return CredentialVerdict("absent")
        return CredentialVerdict("unreadable", issues=[text.splitlines()[0][:200]])
    except (OSError, ValueError) as exc:
        return CredentialVerdict("unreadable", issues=[str(exc)[:200]])
    active = store.get("manifests", {}).get(store.get("active_manifest", ""), {})
    status = [s.get("code", "") for s in store.get("validation_status") or []]
    failures = [c for c in status if c not in _UNTRUSTED]
    state = store.get("validation_state", "")
    verdict = CredentialVerdict("invalid" if failures or state == "Invalid" else
                                "trusted" if state == "Trusted" else "valid", issues=failures or status)
    verdict.signer = (active.get("signature_info") or {}).get("common_name", "") or \
        (active.get("signature_info") or {}).get("issuer", "")
    gen = active.get("claim_generator_info") or [{}]
    verdict.generator = " ".join(str(gen[0].get(k, "")) for k in ("name", "version")).strip()
    for assertion in active.get("assertions", []):
        if assertion.get("label", "").startswith("c2pa.actions"):
            for act in assertion.get("data", {}).get("actions", []):
                verdict.ai_generated |= act.get("digitalSourceType") == DIGITAL_SOURCE_TYPE
    return verdict


def _quiet_keys() -> KeyInfo | None:
    try:
        return load_keys()
    except FaceanimError:
        return None
