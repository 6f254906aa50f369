//! `protected-api`: serves [`protected_api::app`] on `PROTECTED_API_BIND`,
//! trusting the Tessera at `TESSERA_URL`.

use protected_api::{Config, app, verifier};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let config = Config::from_lookup(|name| std::env::var(name).ok());
    if config.events_account.is_none() {
        tracing::warn!(
            "no TESSERA_EVENTS_USERNAME/PASSWORD: revoked tokens pass until they expire"
        );
    }
    let verifier = verifier(&config)?;
    let listener = tokio::net::TcpListener::bind(&config.bind).await?;
    tracing::info!(address = %listener.local_addr()?, tessera = %config.tessera_url, "protected-api listening");
    axum::serve(listener, app(verifier)).await?;
    Ok(())
}
