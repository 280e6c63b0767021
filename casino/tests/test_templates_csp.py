"""Templates carry no inline style attribute or inline script: the
Content-Security-Policy (casino/csp.py) blocks both, so a page styled that way
renders unstyled in a browser. Styles live in static stylesheets."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
# The one page whose policy allows an inline <style> (casino.csp.SANDBOX_POLICY); still no script.
INLINE_STYLE_ELEMENT_ALLOWED = {"templates/shop/sandbox_checkout.html"}


def _templates() -> list[Path]:
    return sorted({path for directory in TEMPLATE_DIRS for path in directory.rglob("*.html")})


def test_no_template_has_an_inline_style_attribute_or_script() -> None:
    offenders = []
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        name = str(path.relative_to(ROOT))
        if re.search(r"\sstyle\s*=", text):
            offenders.append(f"{name}: style= attribute")
        if re.search(r"<script(?![^>]*\ssrc=)[^>]*>", text) or re.search(r"\son[a-z]+\s*=", text):
            offenders.append(f"{name}: inline script")
        if "<style" in text and name not in INLINE_STYLE_ELEMENT_ALLOWED:
            offenders.append(f"{name}: <style> element")
    assert _templates(), "no templates found"
    assert not offenders, offenders


@pytest.mark.django_db
def test_the_wallet_list_loads_its_stylesheet_and_it_is_served(staff_client: Any) -> None:
    # When staff open the wallet list (the ledger-audit panel)
    response = staff_client.get("/admin/economy/wallet/")

    # Then its look comes from a stylesheet the site serves, and no style attribute is left
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="ledger-audit-status"' in html
    assert " style=" not in html
    (href,) = re.findall(r'href="([^"]*casino/admin/wallet\.css)"', html)
    stylesheet = staff_client.get(href)
    assert stylesheet.status_code == 200
    assert b"#ledger-audit-status" in b"".join(stylesheet.streaming_content)
