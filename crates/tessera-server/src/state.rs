//! What every handler shares: the domain service, the schemas, the metrics
//! and the network facts needed to identify clients.

use crate::config::Cidr;
use crate::metrics::Metrics;
use crate::pages::Site;
use crate::schemas::Schemas;
use crate::subscribers::Subscribers;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use tessera_core::Tessera;

/// Shared application state: one reference-counted pointer, so the clone
/// axum makes for every request is one atomic increment. Its fields are
/// those of [`Shared`], reached through `Deref`.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state holding `shared`.
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// The domain service.
    pub tessera: Arc<Tessera>,
    /// Request-body schemas.
    pub schemas: Arc<Schemas>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<Cidr>>,
    /// The `/events` subscription slots and waiting room (an upgraded
    /// connection no longer counts against the listener's connection cap).
    pub subscribers: Arc<Subscribers>,
    /// The OpenAPI document and its reference page, once built.
    pub published: Published,
    /// What the pages show of the deployment, and how they behave.
    pub site: Site,
    /// Password-reset requests being looked into, off their requests.
    pub reset_jobs: Arc<tokio::sync::Semaphore>,
}

/// The OpenAPI document, serialized and as the `/docs` page (or why it
/// could not be rendered), each kept once built (`openapi.rs` builds them).
#[derive(Debug, Default)]
pub struct Published {
    /// The document.
    pub document: OnceLock<Value>,
    /// The document, serialized.
    pub json: OnceLock<String>,
    /// The reference page.
    pub reference: OnceLock<Result<String, String>>,
}
