"""The app factory: safe to import, and a bad configuration fails at start, naming the variable."""

from __future__ import annotations

import pytest

from settings import ConfigError


async def test_bad_configuration_fails_at_start_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://somewhere/dispatch")
    from voice_server import main

    assert main.app is not None  # importing never reads the settings
    app = main.create_app()
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        async with app.router.lifespan_context(app):
            pass


async def test_start_opens_and_migrates_the_store_and_stop_closes_it(make_settings):
    from voice_server.main import create_app

    app = create_app(make_settings())
    async with app.router.lifespan_context(app):
        app.state.store.check()
        assert app.state.store.search_calls(_all()).total == 0


def _all():
    from db.models import CallFilters

    return CallFilters()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_every_asset_from_the_server_itself(serve, make_settings, page):
    """Offline (no CDN) the docs page must still render: every script, stylesheet and icon it
    references is served by the voice server, and nothing points at another host."""
    import re
    from urllib.parse import urljoin, urlparse

    import httpx

    server = serve(make_settings())
    html = httpx.get(server.url + page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    references = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html.text)
    assets = [ref for ref in references if not ref.startswith(("#", "data:"))]
    assert any(ref.endswith(".js") for ref in assets), references
    for ref in assets:
        url = urljoin(server.url + page, ref)
        assert urlparse(url).netloc == urlparse(server.url).netloc, f"{page} loads {ref}"
        response = httpx.get(url)
        assert response.status_code == 200, ref
        assert len(response.content) > 100, ref
