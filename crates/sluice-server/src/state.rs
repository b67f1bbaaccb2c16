//! What every handler shares: the backend, the limits, the metrics and the admission gate.

use crate::error::ApiError;
use crate::in_flight::InFlight;
use crate::metrics::Metrics;
use crate::ServerConfig;
use sluice_core::Backend;
use std::sync::Arc;
use tokio::sync::Semaphore;

pub struct AppState<B> {
    pub backend: Arc<B>,
    pub config: Arc<ServerConfig>,
    pub metrics: Arc<Metrics>,
    admission: Arc<Semaphore>,
}

// Derived `Clone` would require `B: Clone`; only the `Arc`s are cloned.
impl<B> Clone for AppState<B> {
    fn clone(&self) -> Self {
        AppState {
            backend: self.backend.clone(),
            config: self.config.clone(),
            metrics: self.metrics.clone(),
            admission: self.admission.clone(),
        }
    }
}

impl<B: Backend> AppState<B> {
    pub fn new(backend: Arc<B>, config: ServerConfig) -> Self {
        let permits = config.limits.max_concurrent_requests;
        AppState {
            metrics: Arc::new(Metrics::new(backend.info())),
            backend,
            config: Arc::new(config),
            admission: Arc::new(Semaphore::new(permits)),
        }
    }

    /// Admits a generation request, or answers 429 at once when
    /// `max_concurrent_requests` are already in flight (never queues).
    pub fn admit(&self) -> Result<InFlight, ApiError> {
        let permit = self
            .admission
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::overloaded())?;
        Ok(InFlight::new(permit, self.metrics.clone()))
    }
}
