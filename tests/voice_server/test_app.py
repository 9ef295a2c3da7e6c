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
