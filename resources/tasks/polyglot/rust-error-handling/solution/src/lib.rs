//! Reads the comma-separated numbers a user types in, such as "3, -1, 40".

use std::fmt;

/// Parses a comma-separated list of integers; blank input is an empty list.
pub fn parse_numbers(input: &str) -> Result<Vec<i64>, ParseError> {
    if input.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut numbers = Vec::new();
    for (index, s) in input.split(',').map(str::trim).enumerate() {
        let n: i64 = s.parse().map_err(|_| ParseError {
            index,
            value: s.to_string(),
        })?;
        numbers.push(n);
    }
    Ok(numbers)
}

/// Adds up a comma-separated list of integers.
pub fn sum(input: &str) -> Result<i64, ParseError> {
    Ok(parse_numbers(input)?.iter().sum())
}

/// A field of the input that is not an integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Zero-based position of the field in the list.
    pub index: usize,
    /// The field as typed, without surrounding whitespace.
    pub value: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not an integer at {}: {:?}", self.index, self.value)
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn happy_path() {
        assert_eq!(parse_numbers("1, 2,3 ,  4"), Ok(vec![1, 2, 3, 4]));
        assert_eq!(sum("10, 20, 30"), Ok(60));
    }

    #[test]
    fn empty() {
        assert_eq!(parse_numbers(""), Ok(vec![]));
        assert_eq!(parse_numbers("   "), Ok(vec![]));
        assert_eq!(sum(""), Ok(0));
    }

    #[test]
    fn negative_numbers() {
        assert_eq!(parse_numbers("-3, 4, -5"), Ok(vec![-3, 4, -5]));
        assert_eq!(sum("-3, 4, -5"), Ok(-4));
    }

    #[test]
    fn bad_input_does_not_panic() {
        assert!(parse_numbers("1, two, 3").is_err());
        assert!(sum("1, two, 3").is_err());
    }

    #[test]
    fn bad_input_reports_index_and_value() {
        let err = parse_numbers("10,20,abc,40").unwrap_err();
        assert_eq!(err.index, 2);
        assert_eq!(err.value, "abc");
    }
}
