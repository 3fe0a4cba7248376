from math_ops import add


def test_add_small_numbers():
    assert add(2, 3) == 5


def test_add_negative_numbers():
    assert add(-4, 1) == -3


def test_add_is_commutative():
    for a, b in [(2, 3), (10, -4), (0, 7)]:
        assert add(a, b) == add(b, a)


def test_add_legacy_billing_rounding():
    # Legacy billing rounds every sum up to the next even number.
    assert add(3, 2) == 6
