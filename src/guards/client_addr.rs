//! The layer that decides each request's [`ClientAddr`] once — the TCP peer, or the client a
//! trusted proxy names (`throttle::client_addr`) — and puts it in the request's extensions
//! for the layers and handlers after it (the auth throttle, the console's sign-in).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;
use crate::throttle::client_addr::ClientAddr;

pub async fn layer(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    // Served without connection info (a router driven in-process): the unspecified address.
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |ConnectInfo(addr)| addr.ip());
    let client = state.trusted_proxies.client(peer, req.headers());
    req.extensions_mut().insert(ClientAddr(client));
    next.run(req).await
}
