"""API keys: issued once, stored as keyed hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app import context
from app.config import Settings
from app.db.repositories import tenants
from app.db.tables import Tenant

KEY_PREFIX = "kal"


@dataclass(frozen=True)
class IssuedKey:
    tenant: str
    prefix: str
    key: str  # shown once, never stored


def hash_key(key: str, settings: Settings) -> str:
    return hmac.new(settings.secret_key.encode(), key.encode(), hashlib.sha256).hexdigest()


def issue_key(session: Session, tenant_name: str, settings: Settings) -> IssuedKey:
    tenant = tenants.get_or_create(session, tenant_name)
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    tenants.add_key(session, tenant, prefix, hash_key(key, settings))
    return IssuedKey(tenant=tenant.name, prefix=prefix, key=key)


def revoke_key(session: Session, key_or_prefix: str) -> bool:
    parts = key_or_prefix.split("_")
    prefix = parts[1] if len(parts) >= 3 and parts[0] == KEY_PREFIX else key_or_prefix
    return tenants.revoke_key(session, prefix)


def authenticate(session: Session, key: str, settings: Settings) -> Tenant | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    found = tenants.active_key_by_prefix(session, parts[1])
    if found is None:
        # Spend the same hashing work as a real comparison so timing reveals nothing.
        hmac.compare_digest(hash_key(key, settings), "0" * 64)
        return None
    api_key, tenant = found
    if not hmac.compare_digest(hash_key(key, settings), api_key.key_hash):
        return None
    context.note_tenant(tenant.id)  # for the request's access log line
    return tenant


def default_tenant(session: Session, settings: Settings) -> Tenant:
    """The single tenant used when auth is off (embedded development mode)."""
    tenant = tenants.get_or_create(session, settings.default_tenant)
    context.note_tenant(tenant.id)
    return tenant
