//! The provider's resources and data sources by type name, with their schemas computed once, plus
//! the per-process state the RPCs share (configured data, the stop token).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio_util::sync::CancellationToken;

use crate::plugin::context::{CallContext, ProviderData};
use crate::plugin::schema::Schema;
use crate::plugin::traits::{DataSource, Provider, Resource};

pub(crate) struct Registry {
    pub provider: Arc<dyn Provider>,
    pub provider_schema: Schema,
    pub resources: BTreeMap<String, (Arc<dyn Resource>, Schema)>,
    pub data_sources: BTreeMap<String, (Arc<dyn DataSource>, Schema)>,
    data: RwLock<Option<ProviderData>>,
    stop: Mutex<CancellationToken>,
}

impl Registry {
    pub fn new(provider: Arc<dyn Provider>) -> Self {
        let resources = provider
            .resources()
            .into_iter()
            .map(|r| (r.type_name().to_string(), (r.clone(), r.schema())))
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|d| (d.type_name().to_string(), (d.clone(), d.schema())))
            .collect();
        Registry {
            provider_schema: provider.schema(),
            provider,
            resources,
            data_sources,
            data: RwLock::new(None),
            stop: Mutex::new(CancellationToken::new()),
        }
    }

    pub fn set_data(&self, d: Option<ProviderData>) {
        if let Ok(mut g) = self.data.write() {
            *g = d;
        }
    }

    pub fn context(&self) -> CallContext {
        let data = self.data.read().ok().and_then(|g| g.clone());
        let cancel = self
            .stop
            .lock()
            .map(|g| g.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        CallContext::new(cancel, data)
    }

    /// Cancels every call in flight. Later calls get a fresh token: Terraform may still ask us to
    /// read or plan after a stop (e.g. to write final state).
    pub fn stop(&self) {
        let mut g = self.stop.lock().unwrap_or_else(|p| p.into_inner());
        g.cancel();
        *g = CancellationToken::new();
    }
}
