//! Forwarding one request: pick a replica, send, and on a failure before the first response
//! byte try another (bounded); once a replica answers, its response streams back unbuffered
//! and is never replayed.

use crate::body::{read_capped, LeasedBody};
use crate::error::Error;
use crate::policy::{Candidate, Policy, RouteContext};
use crate::pool::ReplicaPool;
use crate::prompt::routing_text;
use crate::replica::{Lease, Replica};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, request, HeaderMap, HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::Duration;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// How long a replica may take to accept a connection before it counts as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pooled HTTP/1 client with Nagle off, so streamed tokens are not held back.
pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    Client::builder(TokioExecutor::new()).build(connector)
}

/// Limits of the forwarding loop.
#[derive(Clone, Copy, Debug)]
pub struct ForwardLimits {
    /// Further replicas to try after the first fails before its first byte.
    pub max_retries: usize,
    /// How long one replica may take to send its response headers. Not retried when it runs
    /// out: the replica may still be generating, and a second replica would do the work again.
    pub request_timeout: Duration,
    /// Largest request body accepted.
    pub payload_limit: usize,
}

#[derive(Debug)]
pub struct Proxy {
    client: HttpClient,
    pool: Arc<ReplicaPool>,
    policy: Box<dyn Policy>,
    limits: ForwardLimits,
}

/// The outcome of sending a request to one replica.
enum Attempt {
    Answered(Response),
    /// Failed before the first byte, so another replica may take it; `overloaded` when the
    /// replica said 429.
    Refused {
        overloaded: bool,
    },
}

impl Proxy {
    pub fn new(pool: Arc<ReplicaPool>, policy: Box<dyn Policy>, limits: ForwardLimits) -> Self {
        Proxy {
            client: http_client(),
            pool,
            policy,
            limits,
        }
    }

    pub async fn forward(&self, request: Request) -> Response {
        match self.try_forward(request).await {
            Ok(response) => response,
            Err(e) => {
                if matches!(e, Error::NoReplica | Error::AllOverloaded) {
                    self.pool.metrics().record_unrouted(e.error_type());
                }
                e.into_response()
            }
        }
    }

    async fn try_forward(&self, request: Request) -> Result<Response, Error> {
        let (parts, body) = request.into_parts();
        let body = read_capped(body, self.limits.payload_limit).await?;
        let prompt = if self.policy.needs_prompt() {
            routing_text(&body)
        } else {
            None
        };
        let ctx = RouteContext {
            prompt: prompt.as_deref(),
        };
        let mut tried: Vec<Arc<Replica>> = Vec::new();
        let mut all_overloaded = true;
        for _ in 0..=self.limits.max_retries {
            let Some(lease) = self.choose(&tried, &ctx) else {
                break;
            };
            if let Some(failed) = tried.last() {
                failed.record_retry();
            }
            tried.push(Arc::clone(lease.replica()));
            match self.attempt(lease, &parts, body.clone()).await? {
                Attempt::Answered(response) => return Ok(response),
                Attempt::Refused { overloaded } => all_overloaded &= overloaded,
            }
        }
        Err(if !tried.is_empty() && all_overloaded {
            Error::AllOverloaded
        } else {
            Error::NoReplica
        })
    }

    /// Leases the policy's pick among healthy replicas not yet tried for this request.
    fn choose(&self, tried: &[Arc<Replica>], ctx: &RouteContext<'_>) -> Option<Lease> {
        let snapshot = self.pool.snapshot();
        let open: Vec<&Arc<Replica>> = snapshot
            .iter()
            .filter(|r| r.is_healthy() && !tried.iter().any(|t| Arc::ptr_eq(t, r)))
            .collect();
        let candidates: Vec<Candidate<'_>> = open
            .iter()
            .map(|r| Candidate {
                key: r.upstream().as_str(),
                in_flight: r.in_flight(),
            })
            .collect();
        let pick = self.policy.select(&candidates, ctx)?;
        open.get(pick).map(|r| r.lease())
    }

    async fn attempt(
        &self,
        lease: Lease,
        parts: &request::Parts,
        body: Bytes,
    ) -> Result<Attempt, Error> {
        let replica = Arc::clone(lease.replica());
        let upstream_request = upstream_request(parts, &replica, body);
        let sent = tokio::time::timeout(
            self.limits.request_timeout,
            self.client.request(upstream_request),
        )
        .await;
        let response = match sent {
            Err(_) => {
                replica.record_error();
                return Err(Error::Timeout {
                    replica: replica.upstream().to_string(),
                    timeout: self.limits.request_timeout,
                });
            }
            Ok(Err(e)) => {
                replica.record_error();
                // Refused or unreachable: keep new requests off it until a health check passes.
                if e.is_connect() && replica.set_healthy(false) {
                    tracing::warn!(replica = %replica.upstream(), "marked unhealthy: {e:#}");
                } else {
                    tracing::warn!(replica = %replica.upstream(), "failed before answering: {e:#}");
                }
                return Ok(Attempt::Refused { overloaded: false });
            }
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            replica.record_error();
            tracing::debug!(replica = %replica.upstream(), %status, "replica refused, trying another");
            return Ok(Attempt::Refused {
                overloaded: status == StatusCode::TOO_MANY_REQUESTS,
            });
        }
        let lease = lease.answered();
        let (mut head, incoming) = response.into_parts();
        strip_hop_by_hop(&mut head.headers);
        Ok(Attempt::Answered(Response::from_parts(
            head,
            Body::new(LeasedBody::new(incoming, lease)),
        )))
    }
}

fn upstream_request(
    parts: &request::Parts,
    replica: &Replica,
    body: Bytes,
) -> hyper::Request<Full<Bytes>> {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut request = hyper::Request::new(Full::new(body));
    *request.method_mut() = parts.method.clone();
    // Built from a parsed upstream and a path axum accepted, so it parses; if it somehow did
    // not, the default URI makes the attempt fail (and be retried) rather than panic.
    *request.uri_mut() = replica.upstream().join(path).parse().unwrap_or_default();
    let headers = request.headers_mut();
    headers.clone_from(&parts.headers);
    strip_hop_by_hop(headers);
    // The client sets these from the URI and the (whole, known-length) body.
    headers.remove(header::HOST);
    headers.remove(header::CONTENT_LENGTH);
    request
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    const HOP_BY_HOP: [HeaderName; 7] = [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ];
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
}
