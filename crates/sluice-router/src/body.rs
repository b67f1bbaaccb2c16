//! Bodies: requests are read whole (small, capped, needed for retries and prompt routing);
//! responses stream through frame by frame, carrying the replica's lease to their end.

use crate::error::Error;
use crate::replica::Lease;
use axum::body::Body;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Reads a request body of at most `limit` bytes.
pub async fn read_capped(body: Body, limit: usize) -> Result<Bytes, Error> {
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(Error::PayloadTooLarge { limit }),
        Err(e) => Err(Error::BadBody(e.to_string())),
    }
}

/// A replica's response body, passed on as each frame arrives (nothing is buffered). It holds
/// the lease, so the request counts as in flight until the last byte or until the client goes
/// away (dropping the body), and an error mid-stream counts against the replica.
#[derive(Debug)]
pub struct LeasedBody {
    inner: Incoming,
    lease: Lease,
}

impl LeasedBody {
    pub fn new(inner: Incoming, lease: Lease) -> Self {
        LeasedBody { inner, lease }
    }
}

impl hyper::body::Body for LeasedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Err(e))) = &polled {
            tracing::warn!(replica = %self.lease.replica().upstream(), "stream cut short: {e}");
            self.lease.replica().record_error();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
