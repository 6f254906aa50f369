//! Starting the server: open the store, start the domain, bootstrap the
//! admin, serve on a listener until shutdown, and run periodic upkeep.

use crate::app::router;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::schemas::Schemas;
use crate::state::{AppState, Shared};
use crate::subscribers::Subscribers;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tessera_core::Tessera;
use tessera_core::secret::ExposeSecret;
use tessera_core::store::{self, StoreError, redact_url};
use tessera_token::clock::{Clock, SystemClock};
use tessera_token::keys::alg_name;
use tokio::net::TcpListener;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The domain could not start (keys, bootstrap admin…).
    #[error(transparent)]
    Domain(#[from] tessera_core::Error),
    /// A schema failed to compile.
    #[error("schemas: {0}")]
    Schemas(String),
    /// Listening failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// The mail relay cannot be set up.
    #[error("TESSERA_SMTP_URL: {0}")]
    Mail(String),
}

/// Opens the configured store and starts the domain service.
pub async fn start_domain(
    config: &Config,
    bound: SocketAddr,
    clock: Arc<dyn Clock>,
) -> Result<Arc<Tessera>, ServeError> {
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    tracing::info!(database = %redact_url(&config.database_url), "opening database");
    let store = store::connect(&config.database_url).await?;
    let tessera = Arc::new(Tessera::start(store, config.settings_for(bound), clock).await?);
    if let Some(admin) = &config.admin
        && tessera
            .accounts()
            .ensure_admin(&admin.username, admin.password.expose_secret())
            .await?
    {
        tracing::info!(username = %admin.username, "bootstrap admin created");
    }
    Ok(tessera)
}

/// The application state for a started domain.
pub fn app_state(config: &Config, tessera: Arc<Tessera>) -> Result<AppState, ServeError> {
    let id_token_algorithms: Vec<&str> = tessera
        .keys()
        .id_token_algorithms()
        .into_iter()
        .map(alg_name)
        .collect();
    let schemas = Schemas::new(
        &tessera.settings().issuer,
        tessera.settings().password_min_length,
    )
    .map_err(ServeError::Schemas)?
    .with_id_token_algorithms(&id_token_algorithms);
    Ok(AppState::new(Shared {
        tessera,
        schemas: Arc::new(schemas),
        metrics: Arc::new(Metrics::default()),
        trusted_proxies: Arc::new(config.trusted_proxies.clone()),
        subscribers: Subscribers::new(config.limits.max_connections),
        published: Default::default(),
        site: config.site.clone(),
        reset_jobs: Arc::new(tokio::sync::Semaphore::new(
            crate::routes::email::RESET_JOBS,
        )),
    }))
}

/// Serves on `listener` with the system clock until `shutdown` completes.
pub async fn launch(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    launch_with_clock(config, listener, Arc::new(SystemClock), shutdown).await
}

/// Serves on `listener` with `clock` until `shutdown` completes.
pub async fn launch_with_clock(
    config: Config,
    listener: TcpListener,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    prepare(config, listener, clock)
        .await?
        .serve(shutdown)
        .await
}

/// A Tessera started on a bound listener: the database is open and
/// migrated, the keys loaded, the revocations read. Connections that arrive
/// meanwhile wait in the listener's queue; [`Ready::serve`] answers them.
pub struct Ready {
    config: Config,
    listener: TcpListener,
    tessera: Arc<Tessera>,
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("address", &self.listener.local_addr().ok())
            .finish_non_exhaustive()
    }
}

/// Starts the domain for `listener` (already bound, so its address is known
/// and no request is lost) without serving yet.
pub async fn prepare(
    config: Config,
    listener: TcpListener,
    clock: Arc<dyn Clock>,
) -> Result<Ready, ServeError> {
    let bound = listener.local_addr()?;
    let tessera = start_domain(&config, bound, clock).await?;
    Ok(Ready {
        config,
        listener,
        tessera,
    })
}

impl Ready {
    /// The started domain.
    pub fn tessera(&self) -> &Arc<Tessera> {
        &self.tessera
    }

    /// Serves until `shutdown` completes, with upkeep, the event hub and
    /// (on PostgreSQL) other replicas' event notifications running beside.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let Ready {
            config,
            listener,
            tessera,
        } = self;
        let bound = listener.local_addr()?;
        let state = app_state(&config, tessera.clone())?;
        if let Some(mail) = &config.mail {
            let sender = crate::mail::Sender {
                from: mail.from.clone(),
                site: config.site.name.clone(),
                public_url: tessera.settings().public_url().to_owned(),
            };
            let mailer = crate::mail::Mailer::new(
                mail,
                sender,
                tessera.clock().clone(),
                state.metrics.clone(),
            )
            .map_err(ServeError::Mail)?;
            tessera.attach_postbox(Arc::new(mailer));
            tracing::info!(relay = %mail.relay.host, port = mail.relay.port, "mail goes through the relay");
        }
        // `/metrics` on its own address when asked for, and then not on the public one.
        let metrics_listener = match config.metrics_bind {
            Some(address) => {
                let listener = TcpListener::bind(address).await?;
                tracing::info!(address = %listener.local_addr()?, "metrics on their own listener");
                let app = crate::app::metrics_router(state.clone());
                Some(tokio::spawn(crate::listener::serve(
                    listener,
                    app,
                    config.limits,
                    std::future::pending::<()>(),
                )))
            }
            None => None,
        };
        let app = router(
            state,
            &config.cors_origins,
            config.request_timeout,
            metrics_listener.is_none(),
        );
        let upkeep = tokio::spawn(maintain(tessera.clone()));
        let id_key = tokio::spawn(make_id_token_key(tessera.clone()));
        let hub = tokio::spawn(run_event_hub(tessera.clone()));
        let notified = tessera.clone();
        let notifications = tokio::spawn(store::commits::listen(
            config.database_url.clone(),
            move |committed| notified.heard(&committed),
        ));
        tracing::info!(address = %bound, issuer = %tessera.settings().issuer, "Tessera listening on http://{bound}");
        crate::listener::serve(listener, app, config.limits, shutdown).await;
        upkeep.abort();
        // Stopped, not left to store a key once this server is gone.
        id_key.abort();
        let _ = id_key.await;
        hub.abort();
        if let Some(metrics) = metrics_listener {
            metrics.abort();
        }
        notifications.abort();
        tracing::info!("Tessera stopped");
        Ok(())
    }
}

/// On a first start, makes the RS256 ID-token key while the server
/// already answers: an RSA key takes tens of milliseconds to make, at
/// random. What needs the key waits for it (`Keys::ensure_id_token_key`).
async fn make_id_token_key(tessera: Arc<Tessera>) {
    if let Err(e) = tessera.keys().ensure_id_token_key().await {
        tracing::warn!(error = %e, "the ID-token key could not be made yet; it will be when first needed");
    }
}

/// Every minute: key rotation, revocation refresh, purging.
async fn maintain(tessera: Arc<Tessera>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = tessera.maintain().await {
            tracing::warn!(error = %e, "periodic maintenance failed");
        }
    }
}

/// Broadcasts committed events as soon as they are written here or
/// announced by another replica, and at least every second.
async fn run_event_hub(tessera: Arc<Tessera>) {
    loop {
        tokio::select! {
            () = tessera.event_hub().woken() => {}
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        if let Err(e) = tessera.events().poll_events().await {
            tracing::warn!(error = %e, "reading events failed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
