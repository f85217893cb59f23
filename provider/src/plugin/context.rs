//! What every call a provider serves gets: the cancellation of StopProvider and whatever the
//! provider's `configure` produced.

use std::any::Any;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

/// Whatever `Provider::configure` produced (clients, settings), shared with every call.
pub type ProviderData = Arc<dyn Any + Send + Sync>;

/// Per-call context handed to resources.
#[derive(Clone)]
pub struct CallContext {
    /// Cancelled when Terraform calls StopProvider (the user pressed Ctrl-C). Long waits must
    /// select on it and return what exists so far, so nothing created is lost from state.
    pub cancel: CancellationToken,
    data: Option<ProviderData>,
}

impl CallContext {
    pub fn new(cancel: CancellationToken, data: Option<ProviderData>) -> Self {
        CallContext { cancel, data }
    }
    /// The configured provider data, if `configure` ran and produced a `T`.
    pub fn provider_data<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.data.clone().and_then(|d| d.downcast::<T>().ok())
    }
}
