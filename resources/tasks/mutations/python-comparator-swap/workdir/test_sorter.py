import unittest

from sorter import sort_ascending


class TestSorter(unittest.TestCase):
    def test_empty(self):
        self.assertEqual(sort_ascending([]), [])

    def test_singleton(self):
        self.assertEqual(sort_ascending([7]), [7])

    def test_already_sorted(self):
        self.assertEqual(sort_ascending([1, 2, 3, 4]), [1, 2, 3, 4])

    def test_ints_ascending(self):
        self.assertEqual(sort_ascending([5, 3, 9, 1, 3]), [1, 3, 3, 5, 9])

    def test_strings_ascending(self):
        self.assertEqual(sort_ascending(["pear", "apple", "fig"]), ["apple", "fig", "pear"])

    def test_with_negatives(self):
        self.assertEqual(sort_ascending([0, -2, 5, -7]), [-7, -2, 0, 5])


if __name__ == "__main__":
    unittest.main()
