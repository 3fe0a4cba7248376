"""A stand-in for the user database: every query takes about 100 ms, like the real one does."""

import time

QUERY_LATENCY_S = 0.1

_USERS = {
    1: {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com"},
    2: {"id": 2, "name": "Alan Turing", "email": "alan@example.com"},
}
_ORDERS = {
    1: [{"order_id": 101, "total": 25.0}, {"order_id": 102, "total": 9.5}],
    2: [],
}


def fetch_user(user_id):
    """The user's record; KeyError for an unknown id."""
    time.sleep(QUERY_LATENCY_S)
    return dict(_USERS[user_id])


def fetch_orders(user_id):
    """The user's orders, oldest first."""
    time.sleep(QUERY_LATENCY_S)
    return [dict(order) for order in _ORDERS.get(user_id, [])]


def update_email(user_id, email):
    """Changes a user's e-mail address."""
    time.sleep(QUERY_LATENCY_S)
    _USERS[user_id]["email"] = email
