//! Fault injection between a Herald process and its broker: [`Proxy`], a TCP proxy on
//! loopback that forwards to one address until it is told to cut or stall the
//! connections through it. `herald chaos` puts it between the relay and the broker; the
//! transports' tests put it between a publisher and its server.

mod proxy;

pub use proxy::Proxy;
