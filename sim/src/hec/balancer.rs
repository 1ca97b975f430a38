//! The load balancer in front of the HEC instances: round-robin, optionally sticky.
//!
//! Splunk indexers counting ack ids each on their own sit behind a load balancer in most
//! deployments. Splunk asks for sticky sessions by cookie when indexer acknowledgement is
//! on ("Load balancing configurations for Splunk Connect for Kafka": "Enable sticky
//! sessions on your load balancer with the maximum configurable cookie timeout period").
//! This imitates what such a balancer does (AWS ALB's duration-based stickiness, nginx's
//! `sticky cookie`): a request without the cookie goes to the next instance in turn and
//! the answer sets the cookie naming it; a request with it goes back there. The cookie's
//! name and value format are this simulator's own (unverified against any product; a
//! client must treat them as opaque, as it would `AWSALB`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;

use super::Shared;

/// The stickiness cookie's name.
const COOKIE_NAME: &str = "HECLB";

#[derive(Clone)]
pub(super) struct Front {
    instances: Arc<Vec<Shared>>,
    next: Arc<AtomicUsize>,
    sticky: bool,
}

/// What the answer must carry: the cookie to set, if any.
pub(super) struct Stick(Option<usize>);

impl Stick {
    pub(super) fn set(self, mut response: Response) -> Response {
        if let Some(i) = self.0
            && let Ok(v) = HeaderValue::from_str(&format!("{COOKIE_NAME}={i}; Path=/"))
        {
            response.headers_mut().append(SET_COOKIE, v);
        }
        response
    }
}

impl Front {
    pub(super) fn new(instances: Vec<Shared>, sticky: bool) -> Self {
        Front {
            instances: Arc::new(instances),
            next: Arc::default(),
            sticky,
        }
    }

    /// The instance for a request with these headers, and the cookie its answer sets.
    pub(super) fn pick(&self, headers: &HeaderMap) -> (&Shared, Stick) {
        let n = self.instances.len();
        if self.sticky
            && let Some(i) = stuck_to(headers).filter(|i| *i < n)
        {
            return (&self.instances[i], Stick(None));
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let stick = Stick(self.sticky.then_some(i));
        (&self.instances[i], stick)
    }
}

/// The instance a request's stickiness cookie names.
fn stuck_to(headers: &HeaderMap) -> Option<usize> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .and_then(|(_, value)| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=b; HECLB=1; c=d"));
        assert_eq!(stuck_to(&h), Some(1));
        h.insert(COOKIE, HeaderValue::from_static("HECLB=x"));
        assert_eq!(stuck_to(&h), None);
    }
}
