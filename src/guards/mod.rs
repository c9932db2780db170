//! Layers that stand in front of the handlers: headers within bounds (`header_limits`), who
//! the client is (`client_addr`), the
//! throttle of clients that keep failing authentication (`auth_throttle`), and JSON bodies
//! only on JSON endpoints (`json_body`). Their order is documented where the router is built
//! (`app.rs`).

pub mod auth_throttle;
pub mod client_addr;
pub mod header_limits;
pub mod json_body;
