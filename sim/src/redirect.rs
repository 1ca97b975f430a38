//! Every request answered with a redirect, when the simulator is told to.
//!
//! A client that follows it sends its headers to the new origin: reqwest strips only
//! `Authorization`, `Cookie` and proxy headers on a cross-host redirect (reqwest's
//! `redirect` module, `remove_sensitive_headers`), not Coder's `Coder-Session-Token`.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::SimHandle;

pub(crate) async fn redirect(
    State(sim): State<SimHandle>,
    request: Request,
    next: Next,
) -> Response {
    let target = sim.lock().redirect_to.clone();
    match target {
        Some(origin) => {
            let path = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(LOCATION, format!("{origin}{path}"))],
            )
                .into_response()
        }
        None => next.run(request).await,
    }
}
