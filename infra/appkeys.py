"""Typed keys for what the aiohttp application holds."""

from aiohttp import web

from infra.resources import Resources

RESOURCES = web.AppKey("resources", Resources)
