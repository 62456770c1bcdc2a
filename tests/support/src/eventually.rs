//! Polling a condition until it holds: the one way tests wait for something asynchronous.
//!
//! The check returns `Ok(value)` once the awaited state is there, or `Err(reason)` saying what
//! it saw instead. After `limit` the test fails with `what`, the limit and the last reason.

use std::future::Future;
use std::time::{Duration, Instant};

/// Pause between two checks of [`eventually`].
const ASYNC_PERIOD: Duration = Duration::from_millis(100);
/// Pause between two checks of [`eventually_blocking`] (its checks are cheap local reads).
const BLOCKING_PERIOD: Duration = Duration::from_millis(50);

/// Runs `check` every 100 ms until it returns `Ok`, and returns that value; panics with `what`
/// and the last reason once `limit` has passed.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(reason) if tokio::time::Instant::now() >= deadline => {
                panic!("{what}: not reached within {limit:?}: {reason}")
            }
            Err(_) => tokio::time::sleep(ASYNC_PERIOD).await,
        }
    }
}

/// [`eventually`] for tests without an async runtime: checks every 50 ms on this thread.
#[track_caller]
pub fn eventually_blocking<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match check() {
            Ok(v) => return v,
            Err(reason) if Instant::now() >= deadline => {
                panic!("{what}: not reached within {limit:?}: {reason}")
            }
            Err(_) => std::thread::sleep(BLOCKING_PERIOD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_value_once_the_check_holds() {
        let mut n = 0;
        let got = eventually_blocking("three calls", Duration::from_secs(5), || {
            n += 1;
            if n == 3 { Ok(n) } else { Err(format!("{n}")) }
        });
        assert_eq!(got, 3);
    }

    #[test]
    fn names_what_was_awaited_and_the_last_reason() {
        let err = std::panic::catch_unwind(|| {
            eventually_blocking::<()>("the impossible", Duration::from_millis(120), || {
                Err("still no".to_owned())
            })
        })
        .unwrap_err();
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.starts_with("the impossible: not reached within") && msg.ends_with("still no"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn async_form_polls_until_ok() {
        let start = tokio::time::Instant::now();
        let got = eventually("a later instant", Duration::from_secs(5), || async {
            if start.elapsed() >= Duration::from_millis(150) {
                Ok("done")
            } else {
                Err("too early".to_owned())
            }
        })
        .await;
        assert_eq!(got, "done");
    }
}
