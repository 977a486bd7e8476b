//! Streaming bodies that count their bytes, so audit lines carry real sizes
//! without ever buffering a body.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::audit::AuditGuard;

/// A request body on its way to an origin, counting bytes as they pass.
#[derive(Debug)]
pub struct RequestBody {
    inner: Incoming,
    counter: Arc<AtomicU64>,
    failure: Arc<OnceLock<String>>,
}

impl RequestBody {
    /// Wrap `inner`, adding every data byte to `counter` and recording in
    /// `failure` why the client's body broke off, if it does, so a failed
    /// forward can be blamed on the client (400) rather than the origin (502).
    pub fn new(
        inner: Incoming,
        counter: Arc<AtomicU64>,
        failure: Arc<OnceLock<String>>,
    ) -> RequestBody {
        RequestBody {
            inner,
            counter,
            failure,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let _ = self.failure.set(crate::handler::error_chain(e));
            }
            _ => {}
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

#[derive(Debug)]
enum Inner {
    Incoming(Incoming),
    Full(Option<Bytes>),
}

/// A response to the client: an origin's streamed body or one the proxy wrote.
///
/// Holds the request's [`AuditGuard`], so the audit line is written when the
/// body is finished or abandoned.
#[derive(Debug)]
pub struct ResponseBody {
    inner: Inner,
    guard: Option<AuditGuard>,
}

impl ResponseBody {
    /// A body the proxy wrote itself.
    pub fn full(bytes: impl Into<Bytes>, guard: Option<AuditGuard>) -> ResponseBody {
        let bytes = bytes.into();
        ResponseBody {
            inner: Inner::Full((!bytes.is_empty()).then_some(bytes)),
            guard,
        }
    }

    /// An origin's body, streamed.
    pub fn incoming(body: Incoming, guard: Option<AuditGuard>) -> ResponseBody {
        ResponseBody {
            inner: Inner::Incoming(body),
            guard,
        }
    }

    /// No body.
    pub fn empty() -> ResponseBody {
        ResponseBody::full(Bytes::new(), None)
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = match &mut this.inner {
            Inner::Incoming(body) => Pin::new(body).poll_frame(cx),
            Inner::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        };
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let (Some(data), Some(guard)) = (frame.data_ref(), this.guard.as_mut())
        {
            guard.add_out(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Incoming(body) => body.is_end_stream(),
            Inner::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Incoming(body) => body.size_hint(),
            Inner::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
