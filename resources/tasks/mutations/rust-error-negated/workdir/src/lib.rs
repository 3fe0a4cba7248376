//! Retrying a fallible operation a bounded number of times.

/// Why `retry` gave up.
#[derive(Debug, PartialEq, Eq)]
pub enum RetryError<E> {
    /// `max_attempts` was zero, so the operation never ran.
    NoAttempts,
    /// Every attempt failed; `last_error` is the error of the final one.
    Exhausted { attempts: u32, last_error: E },
}

/// Calls `op` until it succeeds, at most `max_attempts` times, and returns
/// the first success or, once the attempts are used up, the last error.
pub fn retry<T, E, F>(max_attempts: u32, mut op: F) -> Result<T, RetryError<E>>
where
    F: FnMut() -> Result<T, E>,
{
    if max_attempts == 0 {
        return Err(RetryError::NoAttempts);
    }
    let mut attempts = 1;
    let mut result = op();
    while result.is_ok() && attempts < max_attempts {
        attempts += 1;
        result = op();
    }
    result.map_err(|last_error| RetryError::Exhausted {
        attempts,
        last_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_attempt_ok_returns_immediately() {
        let mut calls = 0;
        let result = retry(3, || {
            calls += 1;
            Ok::<_, &str>(42)
        });
        assert_eq!(result, Ok(42));
        assert_eq!(calls, 1);
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let mut calls = 0;
        let result = retry(3, || {
            calls += 1;
            Err::<u32, _>(format!("failure {}", calls))
        });
        assert_eq!(
            result,
            Err(RetryError::Exhausted {
                attempts: 3,
                last_error: String::from("failure 3"),
            })
        );
        assert_eq!(calls, 3);
    }

    #[test]
    fn retries_on_error_until_success() {
        let mut calls = 0;
        let result = retry(5, || {
            calls += 1;
            if calls < 3 {
                Err("not yet")
            } else {
                Ok(calls)
            }
        });
        assert_eq!(result, Ok(3));
        assert_eq!(calls, 3);
    }

    #[test]
    fn zero_max_attempts_errors() {
        let mut calls = 0;
        let result = retry(0, || {
            calls += 1;
            Ok::<_, &str>(())
        });
        assert_eq!(result, Err(RetryError::NoAttempts));
        assert_eq!(calls, 0);
    }
}
