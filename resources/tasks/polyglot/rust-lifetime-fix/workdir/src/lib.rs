//! String helpers.

/// Returns the longer of two strings; on a tie, the first one.
pub fn longest(a: &str, b: &str) -> &str {
    if b.len() > a.len() {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_left() {
        assert_eq!(longest("", "abc"), "abc");
    }

    #[test]
    fn picks_longer() {
        let short = String::from("hi");
        let long = String::from("hello");
        assert_eq!(longest(&long, &short), "hello");
        assert_eq!(longest(&short, &long), "hello");
    }

    #[test]
    fn ties_pick_left() {
        let left = String::from("left");
        let right = String::from("rite");
        let picked = longest(&left, &right);
        assert_eq!(picked, "left");
        assert!(std::ptr::eq(picked, left.as_str()));
    }
}
