"""A small, stable insertion sort for lists of mutually comparable items."""


def sort_ascending(items):
    """Returns a new list holding `items` from smallest to largest; equal items keep their order."""
    result = list(items)
    for i in range(1, len(result)):
        key = result[i]
        j = i - 1
        while j >= 0 and result[j] < key:
            result[j + 1] = result[j]
            j -= 1
        result[j + 1] = key
    return result
