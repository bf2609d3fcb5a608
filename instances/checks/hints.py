"""Plain-language hints, drawn from the product documentation's troubleshooting page."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from instances.engines.base import Target

CHECK_HOST = "Copy the host name and port from the Settings tab; a typo is the usual cause."
DNS_NEW = (
    "The name does not resolve. Check it for typos; a new instance's name can take a few "
    "minutes to appear in DNS."
)
DNS_SLOW = "Your DNS server did not answer in time. Try again, or check the portal's resolver."
DENIED = (
    "The portal never connects to this network (ZEKTOR_CHECK_DENY_NETWORKS, and loopback "
    "unless ZEKTOR_CHECK_ALLOW_LOOPBACK). Instances have public or private addresses, not "
    "loopback, link-local or unspecified ones. Check the host name and its DNS records."
)
FIREWALL = (
    "Packets are being dropped on the way. Allow outbound traffic to this port in your "
    "firewall or security group."
)
UNREACHABLE = "There is no route to the instance. Check your network, VPN or firewall."
USE_TLS = (
    "Zektor instances accept encrypted connections only. Check that the port is the "
    "instance's port, and connect with TLS (sslmode=require, or valkey-cli --tls / rediss://)."
)
UPDATE_CLIENT = "Update your client: instances need TLS 1.2 or newer, and prefer TLS 1.3."
TLS_OFF = (
    "Turn TLS on (valkey-cli --tls, or a rediss:// URL): without it the password and data "
    "travel unencrypted. Zektor instances have TLS on by default."
)
CA_FILE = (
    "Download the instance's CA certificate from the Settings tab and point your client at it "
    "(sslrootcert= / --cacert)."
)
PUBLIC_CA = (
    "The certificate does not chain to a trusted root. If the instance uses a private CA, "
    "add its PEM to the instance (ca_cert) and give it to your clients."
)
WRONG_HOST = (
    "Connect with the host name shown in the Settings tab: the certificate is issued for it, "
    "not for IP addresses or other aliases."
)
EXPIRED = (
    "The server's certificate has expired. Certificates renew automatically on Active "
    "instances; contact support if it does not renew within a day."
)
EXPIRING = "The certificate renews automatically; if it still has not in a week, contact support."
PASSWORD = (
    "Check the user name and password on the Settings tab; if the password was rotated, "
    "update your application's copy."
)
DATABASE = "Check the database name on the Settings tab; it is case-sensitive."
NOT_PERMITTED = (
    "The server refused this login for this address or role. Check the user name, and that "
    "TLS is on (sslmode=require)."
)
QUERY = "The login worked but a simple query did not. Try again; contact support if it persists."
POOL = (
    "Lower your pool sizes or put a pooler such as PgBouncer in front; the Settings tab "
    "shows pool sizes that fit the tier."
)
TIER_MISMATCH = (
    "The instance may be mid-resize, or its tier in the portal is out of date. Ask an admin "
    "to check the tier."
)
SILENT_TLS = (
    "The server accepted the connection but never answered the TLS handshake. A server "
    "without TLS on this port waits just like this: check the port, and whether the instance "
    "uses TLS. Otherwise make sure the instance is Active."
)
WEAKER_AUTH = (
    "Configure the server to log this user in with scram-sha-256 (pg_hba.conf, and set the "
    "password again with password_encryption = scram-sha-256). A server that asks for a "
    "password in clear text may be an impostor: the portal never sends it one. Only for an "
    "old server that needs MD5, an admin may allow MD5 logins for this instance."
)
WEAKER_AUTH_MD5 = (
    "This instance allows SCRAM-SHA-256 and MD5 logins only. Configure the server to log "
    "this user in with scram-sha-256 in pg_hba.conf."
)
TIMED_OUT = "The server stopped answering. Check that the instance is Active, then try again."


def not_active(target: Target) -> str | None:
    if target.status == "active":
        return None
    return (
        f"The instance is {target.status}: it accepts connections only when Active. Wait until "
        "it is Active again, or ask an admin."
    )


def with_status(target: Target, hint: str) -> str:
    """The hint, led by the instance's status when it is not Active (the likelier cause)."""
    status = not_active(target)
    return f"{status} {hint}" if status else hint


def refused(target: Target) -> str:
    return with_status(target, f"Nothing accepts connections on port {target.port}. {CHECK_HOST}")


def lenient(target: Target) -> str:
    """Why a certificate fault is only a warning for this instance's clients."""
    checks = "the host name" if target.sslmode == "verify-ca" else "the certificate"
    return (
        f"Clients with sslmode={target.sslmode} do not check {checks}, so they still connect; "
        "with sslmode=verify-full they would refuse."
    )
