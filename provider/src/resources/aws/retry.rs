//! The one backoff every wait of the provider uses: doubling delays up to a ceiling, bounded
//! by the operation's timeout, and cut short when Terraform asks the provider to stop.

use std::time::Duration;

use aws_sdk_iam::error::ProvideErrorMetadata;
use tokio::time::Instant;

use crate::plugin::CallContext;

/// Why a wait ended without its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Cancelled,
    TimedOut,
}

/// Delays between attempts.
pub struct Backoff<'a> {
    ctx: &'a CallContext,
    deadline: Instant,
    delay: Duration,
    ceiling: Duration,
}

impl<'a> Backoff<'a> {
    pub fn new(ctx: &'a CallContext, timeout: Duration) -> Self {
        Self::with(
            ctx,
            timeout,
            Duration::from_millis(200),
            Duration::from_secs(5),
        )
    }
    pub fn with(
        ctx: &'a CallContext,
        timeout: Duration,
        first: Duration,
        ceiling: Duration,
    ) -> Self {
        Backoff {
            ctx,
            deadline: Instant::now() + timeout,
            delay: first,
            ceiling,
        }
    }
    /// Sleeps before the next attempt; says why not when the deadline or a stop comes first.
    pub async fn pause(&mut self) -> Result<(), Stopped> {
        if Instant::now() >= self.deadline {
            return Err(Stopped::TimedOut);
        }
        tokio::select! {
            _ = self.ctx.cancel.cancelled() => return Err(Stopped::Cancelled),
            _ = tokio::time::sleep(self.delay.min(self.deadline - Instant::now())) => {}
        }
        self.delay = (self.delay * 2).min(self.ceiling);
        Ok(())
    }
}

/// Polls `check` until it returns Some, StopProvider cancels, or `timeout` passes.
pub async fn wait_until<T, F, Fut>(
    ctx: &CallContext,
    timeout: Duration,
    mut check: F,
) -> Result<T, Stopped>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut backoff = Backoff::new(ctx, timeout);
    loop {
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(Stopped::Cancelled),
            r = check() => if let Some(v) = r { return Ok(v) },
        }
        backoff.pause().await?;
    }
}

/// Why a retried call stopped.
pub enum RetryEnd<E> {
    Failed(E),
    Cancelled,
}

/// Retries `call` while its error is one IAM returns for objects created moments ago
/// (`NoSuchEntity`, `MalformedPolicyDocument` naming a principal that is not visible yet), until
/// `timeout`. Other errors return at once.
pub async fn retry_eventual<T, E, F, Fut>(
    ctx: &CallContext,
    timeout: Duration,
    mut call: F,
) -> Result<T, RetryEnd<E>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = Backoff::with(
        ctx,
        timeout,
        Duration::from_millis(250),
        Duration::from_secs(5),
    );
    loop {
        let e = match call().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let transient = matches!(
            e.code(),
            Some("NoSuchEntity" | "MalformedPolicyDocument" | "InvalidParameterValue")
        );
        if !transient {
            return Err(RetryEnd::Failed(e));
        }
        match backoff.pause().await {
            Ok(()) => {}
            Err(Stopped::TimedOut) => return Err(RetryEnd::Failed(e)),
            Err(Stopped::Cancelled) => return Err(RetryEnd::Cancelled),
        }
    }
}
