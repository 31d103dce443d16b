"""Uploads are off when `handbook serve` listens beyond this machine without a login: the Dokumenter tab says so in
one line and offers no upload box (headless Chromium on a real server bound to 0.0.0.0)."""
from __future__ import annotations

import pytest
from test_ui_browser import CHROMIUM, open_documents_tab

from ui.uploads import NO_UPLOADS

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed "
                                 "(/usr/bin/chromium): apt-get install -y chromium")]
pytest.importorskip("playwright.sync_api", reason="the Python playwright package is not installed")


@pytest.fixture(scope="module")
def serve_env():
    return {"HANDBOOK_HOST": "0.0.0.0"}


def test_upload_refused_on_a_public_address_without_login(handbook_server):
    from playwright.sync_api import sync_playwright

    assert "without a login" in handbook_server.log.read_text()
    with sync_playwright() as p:
        browser, pg = open_documents_tab(p, handbook_server.url)
        message = pg.locator("#hb-upload-status .hb-upload-error")
        message.wait_for(timeout=30_000)
        assert message.inner_text().strip() == NO_UPLOADS.format(host="0.0.0.0")
        assert pg.locator("#hb-upload input[type=file]").count() == 0
        pg.locator("#hb-docs tr[data-source='02-noegletal.md']").wait_for(timeout=30_000)  # the list is still shown
        browser.close()
    assert not (handbook_server.home / "uploads").exists()
