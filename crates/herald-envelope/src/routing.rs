//! Routing keys: `<kind>.<type>.v<version>`.

use crate::EventKind;

/// Formats a routing key, e.g. `integration.orders.order_placed.v2`.
pub fn routing_key(kind: EventKind, event_type: &str, version: u32) -> String {
    format!("{kind}.{event_type}.v{version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_key_has_kind_type_and_version() {
        assert_eq!(
            routing_key(EventKind::Integration, "orders.order_placed", 2),
            "integration.orders.order_placed.v2"
        );
    }
}
