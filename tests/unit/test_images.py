"""What an image build is given from this machine, besides its folder."""

from __future__ import annotations

from cab_check.catalog import base_dir
from cab_check.sandbox.images import image_tag, registry_buildargs

MIRROR = "https://npm.mirror.example/"


def test_the_node_base_fetches_from_the_npm_registry_the_user_configured():
    node22 = base_dir("node22")
    assert registry_buildargs(node22, {"NPM_CONFIG_REGISTRY": MIRROR}) == {"NPM_CONFIG_REGISTRY": MIRROR}
    assert registry_buildargs(node22, {"npm_config_registry": MIRROR}) == {"NPM_CONFIG_REGISTRY": MIRROR}


def test_without_a_configured_registry_npm_keeps_its_default():
    assert registry_buildargs(base_dir("node22"), {}) == {}
    assert registry_buildargs(base_dir("node22"), {"NPM_CONFIG_REGISTRY": ""}) == {}


def test_a_dockerfile_that_does_not_ask_for_the_registry_is_not_given_it():
    assert registry_buildargs(base_dir("tui-base"), {"NPM_CONFIG_REGISTRY": MIRROR}) == {}


def test_a_mirror_does_not_change_the_tag(monkeypatch):
    before = image_tag("node22", base_dir("node22"))
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", MIRROR)
    assert image_tag("node22", base_dir("node22")) == before
