import pytest
from api import get_user


def test_get_user_includes_orders():
    user = get_user(1)
    assert user["name"] == "Ada Lovelace"
    assert [order["order_id"] for order in user["orders"]] == [101, 102]


def test_user_without_orders():
    assert get_user(2)["orders"] == []


def test_unknown_user_raises_key_error():
    with pytest.raises(KeyError):
        get_user(99)
