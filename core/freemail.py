"""E-mail and web-site domains as account keys: free-mail domains never name a company.

`FREE_MAIL_DOMAINS` are personal-mail providers common in Japan and worldwide (Japanese
carriers' mobile mail included); `[account] free_mail_domains` in `scoring.toml` adds more.
A lead at one of them is matched to no account by domain.
"""

from __future__ import annotations

from urllib.parse import urlsplit

FREE_MAIL_DOMAINS: frozenset[str] = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.jp", "ymail.com",
    "hotmail.com", "hotmail.co.jp", "outlook.com", "outlook.jp", "live.com", "live.jp",
    "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.com", "gmx.net",
    "mail.com", "proton.me", "protonmail.com", "zoho.com", "yandex.com",
    "docomo.ne.jp", "ezweb.ne.jp", "au.com", "softbank.ne.jp", "i.softbank.jp",
    "nifty.com", "biglobe.ne.jp", "ocn.ne.jp",
})


def email_domain(email: str | None) -> str | None:
    """The lower-cased part after the last @; None when there is none."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    return domain or None


def site_domain(value: str | None) -> str | None:
    """A web site or domain as written in a CRM (`https://www.example.co.jp/ja/`,
    `www.example.co.jp`, `EXAMPLE.co.jp`) as its bare lower-cased host without `www.`."""
    if not value or not value.strip():
        return None
    text = value.strip().lower()
    host = urlsplit(text if "//" in text else "//" + text).hostname
    if not host:
        return None
    host = host.rstrip(".")
    if host.startswith("www."):
        host = host[4:]
    return host if "." in host else None


def company_domain(email: str | None, extra_free: frozenset[str] = frozenset()) -> str | None:
    """The domain of `email` when it can name a company (not free mail)."""
    domain = email_domain(email)
    if domain is None or domain in FREE_MAIL_DOMAINS or domain in extra_free:
        return None
    return domain


__all__ = ["FREE_MAIL_DOMAINS", "company_domain", "email_domain", "site_domain"]
