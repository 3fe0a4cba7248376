"""The user API: what GET /users/<id> returns."""

import db


def get_user(user_id):
    """The user's record with their orders under "orders"; KeyError for an unknown id."""
    user = db.fetch_user(user_id)
    user["orders"] = db.fetch_orders(user_id)
    return user
